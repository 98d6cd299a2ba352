//! The samplers, ours, written to compute what diffusers' schedulers compute (the parity
//! test checks each step against them): DDIM (eta 0), Euler a, DPM++ 2M with Karras
//! sigmas (A1111's default, diffusers' `DPMSolverMultistepScheduler` with
//! `use_karras_sigmas`), and LCM (diffusers' `LCMScheduler`: consistency steps on the
//! distillation's timestep grid, for LCM models and LCM-LoRA).
//!
//! Every random draw comes from a caller's noise source, so Euler a is as reproducible
//! for a seed as the others, on every device, and a test can feed the reference's
//! numbers.

use candle_core::{Result, Tensor};
use serde_json::Value;

/// The samplers the engine runs, by their A1111 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sampler {
    /// "DDIM", with eta 0: deterministic.
    Ddim,
    /// "Euler a": ancestral, with fresh noise each step from the job's seed.
    EulerAncestral,
    /// "DPM++ 2M Karras": second-order multistep on Karras sigmas.
    DpmPp2mKarras,
    /// "LCM": a latent consistency model's steps, with fresh noise between them.
    Lcm,
}

impl Sampler {
    /// Every sampler, in the order the worker lists them.
    pub const ALL: [Sampler; 4] = [
        Sampler::DpmPp2mKarras,
        Sampler::EulerAncestral,
        Sampler::Ddim,
        Sampler::Lcm,
    ];

    pub fn a1111_name(self) -> &'static str {
        match self {
            Sampler::Ddim => "DDIM",
            Sampler::EulerAncestral => "Euler a",
            Sampler::DpmPp2mKarras => "DPM++ 2M Karras",
            Sampler::Lcm => "LCM",
        }
    }

    /// Other names clients send: A1111's aliases and, since A1111 1.9 split the
    /// scheduler out, the bare "DPM++ 2M" (whose automatic scheduler is Karras).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Sampler::Ddim => &["ddim"],
            Sampler::EulerAncestral => &["k_euler_a", "k_euler_ancestral"],
            Sampler::DpmPp2mKarras => &["k_dpmpp_2m_ka", "DPM++ 2M", "k_dpmpp_2m"],
            Sampler::Lcm => &["lcm", "k_lcm"],
        }
    }

    pub fn from_a1111(name: &str) -> Option<Sampler> {
        let name = name.trim();
        Sampler::ALL
            .into_iter()
            .find(|s| s.a1111_name() == name || s.aliases().contains(&name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    Epsilon,
    VPrediction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spacing {
    Leading,
    Trailing,
    Linspace,
}

/// A model's training noise schedule, from `scheduler/scheduler_config.json`.
#[derive(Debug, Clone)]
pub struct NoiseSchedule {
    /// ᾱ for every training step, computed in f32 as diffusers does.
    alphas_cumprod: Vec<f64>,
    pub prediction: Prediction,
    pub spacing: Spacing,
    pub steps_offset: usize,
    pub set_alpha_to_one: bool,
    /// DDIM clamps its x₀ prediction to ±this (diffusers' `clip_sample`, which is on
    /// when a config does not mention it; the published SD configs turn it off).
    pub clip_sample: Option<f64>,
    /// LCM: the distillation's step count (its timestep grid) and the boundary
    /// condition's timestep scaling.
    pub original_inference_steps: usize,
    pub timestep_scaling: f64,
    /// LCM's own `clip_sample`, which is off when a config does not mention it.
    pub lcm_clip: Option<f64>,
}

impl NoiseSchedule {
    /// Stable Diffusion's: scaled-linear betas 0.00085 to 0.012 over 1000 steps.
    pub fn stable_diffusion(prediction: Prediction, spacing: Spacing) -> NoiseSchedule {
        NoiseSchedule::new(
            1000, 0.00085, 0.012, true, prediction, spacing, 1, false, None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        train_steps: usize,
        beta_start: f64,
        beta_end: f64,
        scaled: bool,
        prediction: Prediction,
        spacing: Spacing,
        steps_offset: usize,
        set_alpha_to_one: bool,
        clip_sample: Option<f64>,
    ) -> NoiseSchedule {
        let n = train_steps.max(2);
        let (a, b) = if scaled {
            (beta_start.sqrt(), beta_end.sqrt())
        } else {
            (beta_start, beta_end)
        };
        let mut acc = 1f32;
        let alphas_cumprod = (0..n)
            .map(|i| {
                let x = (a + (b - a) * i as f64 / (n - 1) as f64) as f32;
                let beta = if scaled { x * x } else { x };
                acc *= 1.0 - beta;
                acc as f64
            })
            .collect();
        NoiseSchedule {
            alphas_cumprod,
            prediction,
            spacing,
            steps_offset,
            set_alpha_to_one,
            clip_sample,
            original_inference_steps: 50,
            timestep_scaling: 10.0,
            lcm_clip: None,
        }
    }

    /// Reads a diffusers scheduler config (any scheduler class: only the noise
    /// schedule, prediction type and spacing are taken from it).
    pub fn from_config(v: &Value) -> std::result::Result<NoiseSchedule, String> {
        let f = |k: &str, d: f64| v.get(k).and_then(Value::as_f64).unwrap_or(d);
        let scaled = match v.get("beta_schedule").and_then(Value::as_str) {
            None | Some("scaled_linear") => true,
            Some("linear") => false,
            Some(other) => return Err(format!("beta_schedule {other:?} is not supported")),
        };
        if v.get("trained_betas").is_some_and(|t| !t.is_null()) {
            return Err("trained_betas is not supported".into());
        }
        let prediction = match v.get("prediction_type").and_then(Value::as_str) {
            None | Some("epsilon") => Prediction::Epsilon,
            Some("v_prediction") => Prediction::VPrediction,
            Some(other) => return Err(format!("prediction_type {other:?} is not supported")),
        };
        let spacing = match v.get("timestep_spacing").and_then(Value::as_str) {
            None | Some("leading") => Spacing::Leading,
            Some("trailing") => Spacing::Trailing,
            Some("linspace") => Spacing::Linspace,
            Some(other) => return Err(format!("timestep_spacing {other:?} is not supported")),
        };
        let mut schedule = NoiseSchedule::new(
            v.get("num_train_timesteps")
                .and_then(Value::as_u64)
                .unwrap_or(1000) as usize,
            f("beta_start", 0.00085),
            f("beta_end", 0.012),
            scaled,
            prediction,
            spacing,
            v.get("steps_offset").and_then(Value::as_u64).unwrap_or(0) as usize,
            // Absent means on, as in diffusers' DDIM (the published configs say false).
            v.get("set_alpha_to_one")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            v.get("clip_sample")
                .and_then(Value::as_bool)
                .unwrap_or(true)
                .then(|| f("clip_sample_range", 1.0)),
        );
        if let Some(n) = v.get("original_inference_steps").and_then(Value::as_u64) {
            schedule.original_inference_steps = (n as usize).clamp(1, schedule.train_steps());
        }
        schedule.timestep_scaling = f("timestep_scaling", 10.0);
        schedule.lcm_clip = v
            .get("clip_sample")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .then(|| f("clip_sample_range", 1.0));
        Ok(schedule)
    }

    /// LCM's timesteps: `steps` picked evenly (by index) from the distillation's grid of
    /// `original_inference_steps`, largest first, as diffusers' `LCMScheduler`. With
    /// `strength` below 1 (LCM-distilled models' img2img), the grid stops at that
    /// fraction of it, and all `steps` run inside it.
    fn lcm_timesteps(&self, steps: usize, strength: f64) -> Vec<f64> {
        let original = self.original_inference_steps;
        let k = self.train_steps() / original;
        // Python's int(): truncation.
        let top = (original as f64 * strength) as usize;
        let grid: Vec<usize> = (1..=top.min(original)).rev().map(|i| i * k - 1).collect();
        let steps = steps.min(grid.len());
        (0..steps)
            // numpy's linspace: start + i × step, floored.
            .map(|i| grid[(i as f64 * (grid.len() as f64 / steps as f64)).floor() as usize] as f64)
            .collect()
    }

    /// LCM's boundary condition at timestep `t`: (c_skip, c_out).
    fn lcm_scalings(&self, t: f64) -> (f64, f64) {
        let sigma_data = 0.5f64;
        let s = t * self.timestep_scaling;
        let c_skip = sigma_data * sigma_data / (s * s + sigma_data * sigma_data);
        let c_out = s / (s * s + sigma_data * sigma_data).sqrt();
        (c_skip, c_out)
    }

    fn train_steps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// σ for each training step, in f32 as diffusers computes them.
    fn train_sigmas(&self) -> Vec<f64> {
        self.alphas_cumprod
            .iter()
            .map(|&a| {
                let a = a as f32;
                ((1.0 - a) / a).sqrt() as f64
            })
            .collect()
    }

    /// The timesteps of `steps` inference steps, as DDIM and Euler space them.
    fn spaced(&self, steps: usize) -> Vec<f64> {
        let n = self.train_steps();
        match self.spacing {
            Spacing::Leading => {
                let ratio = n / steps;
                (0..steps)
                    .rev()
                    .map(|i| (i * ratio + self.steps_offset) as f64)
                    .collect()
            }
            Spacing::Trailing => {
                let ratio = n as f64 / steps as f64;
                (0..steps)
                    .map(|i| (n as f64 - i as f64 * ratio).round() - 1.0)
                    .collect()
            }
            Spacing::Linspace => (0..steps)
                .rev()
                .map(|i| {
                    if steps == 1 {
                        0.0
                    } else {
                        i as f64 * (n - 1) as f64 / (steps - 1) as f64
                    }
                })
                .collect(),
        }
    }

    /// A plan of `steps` inference steps for `sampler`.
    pub fn plan(&self, sampler: Sampler, steps: usize) -> Plan {
        let steps = steps.clamp(1, self.train_steps());
        let (timesteps, sigmas) = match sampler {
            Sampler::Ddim => {
                let mut t = self.spaced(steps);
                if self.spacing == Spacing::Linspace {
                    t.iter_mut().for_each(|x| *x = x.round());
                }
                (t, Vec::new())
            }
            Sampler::EulerAncestral => {
                let t = self.spaced(steps);
                let table = self.train_sigmas();
                let mut s: Vec<f64> = t.iter().map(|&x| interp(x, &table)).collect();
                s.push(0.0);
                (t, s)
            }
            Sampler::DpmPp2mKarras => {
                let table = self.train_sigmas();
                let (min, max) = (table[0], table[table.len() - 1]);
                let rho = 7.0;
                let (lo, hi) = (min.powf(1.0 / rho), max.powf(1.0 / rho));
                let mut s: Vec<f64> = (0..steps)
                    .map(|i| {
                        let ramp = if steps == 1 {
                            0.0
                        } else {
                            i as f64 / (steps - 1) as f64
                        };
                        (hi + ramp * (lo - hi)).powf(rho)
                    })
                    .collect();
                let logs: Vec<f64> = table
                    .iter()
                    .map(|x| (x.max(1e-10) as f32).ln() as f64)
                    .collect();
                let t = s.iter().map(|&x| sigma_to_t(x, &logs).round()).collect();
                s.push(0.0);
                (t, s)
            }
            Sampler::Lcm => (self.lcm_timesteps(steps, 1.0), Vec::new()),
        };
        Plan {
            sampler,
            timesteps,
            sigmas,
        }
    }

    /// img2img for an LCM-distilled model, as diffusers' `LatentConsistencyModelImg2Img
    /// Pipeline`: LCM over the first `strength` of the distillation grid, every one of
    /// `steps` run from the start (empty when the grid is).
    pub fn lcm_img2img_plan(&self, steps: usize, strength: f64) -> Plan {
        Plan {
            sampler: Sampler::Lcm,
            timesteps: self.lcm_timesteps(steps.max(1), strength),
            sigmas: Vec::new(),
        }
    }

    fn alpha(&self, t: f64) -> f64 {
        self.alphas_cumprod[(t as usize).min(self.train_steps() - 1)]
    }
}

/// np.interp over the integer grid 0..table.len().
fn interp(x: f64, table: &[f64]) -> f64 {
    if x <= 0.0 {
        return table[0];
    }
    let last = table.len() - 1;
    if x >= last as f64 {
        return table[last];
    }
    let i = x.floor() as usize;
    let w = x - i as f64;
    table[i] * (1.0 - w) + table[i + 1] * w
}

/// The (fractional) training step of σ, interpolating log σ as diffusers does.
fn sigma_to_t(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let ls = sigma.max(1e-10).ln();
    let n = log_sigmas.len();
    let low = log_sigmas
        .iter()
        .rposition(|&l| ls - l >= 0.0)
        .unwrap_or(0)
        .min(n - 2);
    let (lo, hi) = (log_sigmas[low], log_sigmas[low + 1]);
    let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * (low + 1) as f64
}

/// The timesteps (and σ) of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sampler: Sampler,
    /// The model's timestep at each step.
    pub timesteps: Vec<f64>,
    /// σ at each step and a final 0 (Euler a and DPM++; empty for DDIM).
    pub sigmas: Vec<f64>,
}

impl Plan {
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// img2img: the first step to run for `strength`, as diffusers' `get_timesteps`.
    pub fn start_for(&self, strength: f64) -> usize {
        self.len() - denoising_steps(self.len(), strength)
    }
}

/// The steps img2img runs of a `steps`-step schedule at `strength`: ⌊steps × strength⌋.
pub fn denoising_steps(steps: usize, strength: f64) -> usize {
    ((steps as f64 * strength).floor() as usize).min(steps)
}

fn alpha_sigma(sigma: f64) -> (f64, f64) {
    let a = 1.0 / (sigma * sigma + 1.0).sqrt();
    (a, sigma * a)
}

/// One run of a plan over a batch of latents.
pub struct Denoiser<'a> {
    schedule: &'a NoiseSchedule,
    plan: &'a Plan,
    /// DPM++ 2M: the previous step's x₀ prediction.
    previous: Option<Tensor>,
}

impl<'a> Denoiser<'a> {
    pub fn new(schedule: &'a NoiseSchedule, plan: &'a Plan) -> Self {
        Denoiser {
            schedule,
            plan,
            previous: None,
        }
    }

    /// Clean latents noised to the level of step `i` (img2img's start).
    pub fn add_noise(&self, x0: &Tensor, noise: &Tensor, i: usize) -> Result<Tensor> {
        match self.plan.sampler {
            Sampler::Ddim | Sampler::Lcm => {
                let a = self.schedule.alpha(self.plan.timesteps[i]);
                (x0 * a.sqrt())? + (noise * (1.0 - a).sqrt())?
            }
            Sampler::EulerAncestral => x0 + (noise * self.plan.sigmas[i])?,
            Sampler::DpmPp2mKarras => {
                let (a, s) = alpha_sigma(self.plan.sigmas[i]);
                (x0 * a)? + (noise * s)?
            }
        }
    }

    /// What the model sees at step `i`.
    pub fn scale_input(&self, x: &Tensor, i: usize) -> Result<Tensor> {
        match self.plan.sampler {
            Sampler::EulerAncestral => {
                let s = self.plan.sigmas[i];
                x / (s * s + 1.0).sqrt()
            }
            Sampler::Ddim | Sampler::DpmPp2mKarras | Sampler::Lcm => Ok(x.clone()),
        }
    }

    /// Step `i` from `x` with the model's output; `noise` is drawn by Euler a, and by
    /// LCM between its steps.
    pub fn step(
        &mut self,
        out: &Tensor,
        i: usize,
        x: &Tensor,
        noise: &mut dyn FnMut() -> Result<Tensor>,
    ) -> Result<Tensor> {
        let v = self.schedule.prediction == Prediction::VPrediction;
        match self.plan.sampler {
            Sampler::Ddim => {
                let t = self.plan.timesteps[i];
                let n = self.schedule.train_steps();
                let prev = t - (n / self.plan.len()) as f64;
                let a = self.schedule.alpha(t);
                let a_prev = if prev >= 0.0 {
                    self.schedule.alpha(prev)
                } else if self.schedule.set_alpha_to_one {
                    1.0
                } else {
                    self.schedule.alphas_cumprod[0]
                };
                let (x0, eps) = if v {
                    (
                        ((x * a.sqrt())? - (out * (1.0 - a).sqrt())?)?,
                        ((out * a.sqrt())? + (x * (1.0 - a).sqrt())?)?,
                    )
                } else {
                    (((x - (out * (1.0 - a).sqrt())?)? / a.sqrt())?, out.clone())
                };
                let x0 = match self.schedule.clip_sample {
                    Some(r) => x0.clamp(-r, r)?,
                    None => x0,
                };
                (x0 * a_prev.sqrt())? + (eps * (1.0 - a_prev).sqrt())?
            }
            Sampler::EulerAncestral => {
                let (from, to) = (self.plan.sigmas[i], self.plan.sigmas[i + 1]);
                let x0 = if v {
                    ((out * (-from / (from * from + 1.0).sqrt()))? + (x / (from * from + 1.0))?)?
                } else {
                    (x - (out * from)?)?
                };
                let up = (to * to * (from * from - to * to) / (from * from)).sqrt();
                let down = (to * to - up * up).sqrt();
                let derivative = ((x - x0)? / from)?;
                let next = (x + (derivative * (down - from))?)?;
                next + (noise()? * up)?
            }
            Sampler::DpmPp2mKarras => {
                let (s0, t) = (self.plan.sigmas[i], self.plan.sigmas[i + 1]);
                let (alpha_s0, sigma_s0) = alpha_sigma(s0);
                let x0 = if v {
                    ((x * alpha_s0)? - (out * sigma_s0)?)?
                } else {
                    ((x - (out * sigma_s0)?)? / alpha_s0)?
                };
                let last = i + 1 == self.plan.len();
                let next = if t == 0.0 {
                    // The final σ is 0: the step lands on the x₀ prediction.
                    x0.clone()
                } else {
                    let (alpha_t, sigma_t) = alpha_sigma(t);
                    let lambda = |a: f64, s: f64| a.ln() - s.ln();
                    let h = lambda(alpha_t, sigma_t) - lambda(alpha_s0, sigma_s0);
                    let base = (x * (sigma_t / sigma_s0))?;
                    let k = alpha_t * ((-h).exp() - 1.0);
                    match (&self.previous, last) {
                        (Some(prev), false) if i > 0 => {
                            let s1 = self.plan.sigmas[i - 1];
                            let (alpha_s1, sigma_s1) = alpha_sigma(s1);
                            let h0 = lambda(alpha_s0, sigma_s0) - lambda(alpha_s1, sigma_s1);
                            let r0 = h0 / h;
                            let d1 = ((&x0 - prev)? * (1.0 / r0))?;
                            ((base - (&x0 * k)?)? - (d1 * (0.5 * k))?)?
                        }
                        _ => (base - (&x0 * k)?)?,
                    }
                };
                self.previous = Some(x0);
                Ok(next)
            }
            Sampler::Lcm => {
                let t = self.plan.timesteps[i];
                let last = i + 1 == self.plan.len();
                let a = self.schedule.alpha(t);
                let a_prev = if last {
                    // diffusers keeps the last step's own timestep here; unused below.
                    a
                } else {
                    self.schedule.alpha(self.plan.timesteps[i + 1])
                };
                let x0 = if v {
                    ((x * a.sqrt())? - (out * (1.0 - a).sqrt())?)?
                } else {
                    ((x - (out * (1.0 - a).sqrt())?)? / a.sqrt())?
                };
                let x0 = match self.schedule.lcm_clip {
                    Some(r) => x0.clamp(-r, r)?,
                    None => x0,
                };
                let (c_skip, c_out) = self.schedule.lcm_scalings(t);
                let denoised = ((x0 * c_out)? + (x * c_skip)?)?;
                if last {
                    Ok(denoised)
                } else {
                    (denoised * a_prev.sqrt())? + (noise()? * (1.0 - a_prev).sqrt())?
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_parses_back_to_its_sampler() {
        for s in Sampler::ALL {
            assert_eq!(Sampler::from_a1111(s.a1111_name()), Some(s));
            for a in s.aliases() {
                assert_eq!(Sampler::from_a1111(a), Some(s), "{a}");
            }
        }
        assert_eq!(Sampler::from_a1111("DPM++ 9M"), None);
    }

    #[test]
    fn img2img_starts_where_diffusers_does() {
        let s = NoiseSchedule::stable_diffusion(Prediction::Epsilon, Spacing::Leading);
        let plan = s.plan(Sampler::DpmPp2mKarras, 20);
        assert_eq!(plan.len(), 20);
        assert_eq!(plan.sigmas.len(), 21);
        assert_eq!(plan.start_for(0.6), 8);
        assert_eq!(plan.start_for(1.0), 0);
        assert_eq!(plan.start_for(0.01), 20);
        // Karras σ fall from the schedule's largest to its smallest, then 0.
        assert!(plan.sigmas.windows(2).all(|w| w[0] > w[1]));
        assert!(
            (plan.sigmas[0] - 14.6146).abs() < 1e-3,
            "{}",
            plan.sigmas[0]
        );
    }
}
