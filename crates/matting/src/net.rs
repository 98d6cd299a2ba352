//! A small ONNX interpreter for convolutional networks such as MODNet: the graph's
//! nodes run in file order (ONNX stores them sorted), each value freed after its last
//! use. Convolutions are prepared once at load (weights laid out for the matrix kernel,
//! a following ReLU or Clip folded in); the few shape computations an exported graph
//! carries (Shape, Gather, Concat of sizes…) run on small integer tensors as they come.
//!
//! The operator set is what convolutional image models exported from PyTorch use; a
//! model with any other operator is refused at load, naming it.

use std::collections::HashMap;

use crate::kernels::{Act, Conv};
use crate::onnx::{Data, Graph, Node, Tensor};

pub type Result<T> = std::result::Result<T, String>;

/// A loaded network.
pub struct Net {
    steps: Vec<Step>,
    constants: HashMap<String, Tensor>,
    input: String,
    output: String,
    /// For each value, how many steps read it (the graph's output once more).
    uses: HashMap<String, usize>,
}

enum Step {
    Conv {
        conv: Box<Conv>,
        input: String,
        output: String,
    },
    /// Channel ranges normalised each their own way, then joined again: MODNet's IBNorm
    /// (the first half batch-normalised, the second instance-normalised), which the
    /// export spells Slice, Slice, BatchNormalization, InstanceNormalization, Concat.
    /// Run in place on the input, without the copies.
    SplitNorm {
        input: String,
        output: String,
        parts: Vec<Norm>,
        act: Act,
    },
    Op(Node),
}

/// How one range of channels is normalised.
enum Norm {
    /// Batch normalisation at inference: a·x + b per channel.
    Affine { a: Vec<f32>, b: Vec<f32> },
    /// Each channel to mean 0 and variance 1 over its plane, then scaled and shifted.
    Instance {
        scale: Vec<f32>,
        bias: Vec<f32>,
        eps: f32,
    },
}

impl Norm {
    fn channels(&self) -> usize {
        match self {
            Norm::Affine { a, .. } => a.len(),
            Norm::Instance { scale, .. } => scale.len(),
        }
    }

    /// Normalises channel `c` (of this range) in place.
    fn apply(&self, c: usize, plane: &mut [f32], act: Act) {
        let (a, b) = match self {
            Norm::Affine { a, b } => (a[c], b[c]),
            Norm::Instance { scale, bias, eps } => {
                let n = plane.len().max(1) as f64;
                let mean = (lane_sum(plane, |v| v) / n) as f32;
                let var = (lane_sum(plane, |v| (v - mean) * (v - mean)) / n) as f32;
                let a = scale[c] / (var + eps).sqrt();
                (a, bias[c] - mean * a)
            }
        };
        match act {
            Act::None => plane.iter_mut().for_each(|v| *v = *v * a + b),
            Act::Clip(lo, hi) => plane
                .iter_mut()
                .for_each(|v| *v = (*v * a + b).max(lo).min(hi)),
        }
    }

    /// The normalisation a BatchNormalization or InstanceNormalization node applies,
    /// given its parameters by input index (`None` where one is missing).
    fn of(node: &Node, param: impl Fn(usize) -> Option<Vec<f32>>) -> Option<Norm> {
        let eps = node.float("epsilon").unwrap_or(1e-5);
        match node.op.as_str() {
            "BatchNormalization" => {
                let (scale, bias, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
                let n = scale.len();
                if [bias.len(), mean.len(), var.len()] != [n, n, n] {
                    return None;
                }
                let a: Vec<f32> = (0..n).map(|c| scale[c] / (var[c] + eps).sqrt()).collect();
                let b = (0..n).map(|c| bias[c] - mean[c] * a[c]).collect();
                Some(Norm::Affine { a, b })
            }
            "InstanceNormalization" => {
                let (scale, bias) = (param(1)?, param(2)?);
                (scale.len() == bias.len()).then_some(Norm::Instance { scale, bias, eps })
            }
            _ => None,
        }
    }
}

const OPS: &[&str] = &[
    "Add",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Div",
    "Expand",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "InstanceNormalization",
    "LeakyRelu",
    "MatMul",
    "Mul",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Squeeze",
    "Sub",
    "Unsqueeze",
    "Upsample",
];

impl Net {
    pub fn new(graph: Graph) -> Result<Net> {
        if graph.inputs.len() != 1 || graph.outputs.len() != 1 {
            return Err(format!(
                "expected one input and one output, found {} and {}",
                graph.inputs.len(),
                graph.outputs.len()
            ));
        }
        let mut constants = graph.weights;
        let mut nodes = Vec::new();
        for node in graph.nodes {
            if node.op == "Conv" {
                nodes.push(node);
                continue;
            }
            if !OPS.contains(&node.op.as_str()) {
                return Err(format!(
                    "the model uses the operator {} (node {}), which this runtime does not have",
                    node.op, node.name
                ));
            }
            if node.op == "Constant" {
                let value = match node.attrs.get("value") {
                    Some(crate::onnx::Attr::Tensor(t)) => t.clone(),
                    _ => return Err(format!("constant {} has no tensor value", node.name)),
                };
                constants.insert(node.outputs[0].clone(), value);
                continue;
            }
            nodes.push(node);
        }
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for n in &nodes {
            for i in n.inputs.iter().filter(|i| !i.is_empty()) {
                *readers.entry(i.as_str()).or_default() += 1;
            }
        }
        let output = graph.outputs[0].clone();
        let mut steps = Vec::new();
        let mut skip = vec![false; nodes.len()];
        let mut fused = split_norms(
            &nodes,
            &constants,
            &readers,
            &output,
            graph.opset,
            &mut skip,
        );
        for i in 0..nodes.len() {
            if let Some(step) = fused.remove(&i) {
                steps.push(step);
                continue;
            }
            if skip[i] {
                continue;
            }
            let node = &nodes[i];
            if node.op != "Conv" {
                steps.push(Step::Op(node.clone()));
                continue;
            }
            let mut conv = conv(node, &constants)?;
            let mut out = node.outputs[0].clone();
            if let Some((act, name, j)) =
                activation_after(&nodes, i, &out, &constants, &readers, &output, graph.opset)
            {
                conv.act = act;
                out = name;
                skip[j] = true;
            }
            steps.push(Step::Conv {
                conv: Box::new(conv.prepare()),
                input: node.inputs[0].clone(),
                output: out,
            });
        }
        let mut uses: HashMap<String, usize> = HashMap::new();
        for s in &steps {
            let inputs: Vec<&String> = match s {
                Step::Conv { input, .. } | Step::SplitNorm { input, .. } => vec![input],
                Step::Op(n) => n.inputs.iter().collect(),
            };
            for i in inputs.into_iter().filter(|i| !i.is_empty()) {
                *uses.entry(i.clone()).or_default() += 1;
            }
        }
        *uses.entry(output.clone()).or_default() += 1;
        Ok(Net {
            steps,
            constants,
            input: graph.inputs[0].clone(),
            output,
            uses,
        })
    }

    /// Runs the network on one NCHW input.
    pub fn run(&self, dims: &[usize], input: Vec<f32>) -> Result<(Vec<usize>, Vec<f32>)> {
        let mut values: HashMap<&str, Tensor> = HashMap::new();
        let mut left = self.uses.clone();
        values.insert(
            &self.input,
            Tensor {
                dims: dims.to_vec(),
                data: Data::F32(input),
            },
        );
        for step in &self.steps {
            let (inputs, outputs): (Vec<&str>, Vec<&str>) = match step {
                Step::Conv { input, output, .. } | Step::SplitNorm { input, output, .. } => {
                    (vec![input], vec![output])
                }
                Step::Op(n) => (
                    n.inputs.iter().map(String::as_str).collect(),
                    n.outputs.iter().map(String::as_str).collect(),
                ),
            };
            let results = if let Step::SplitNorm { parts, act, .. } = step {
                let name = inputs[0];
                // The input's last reader is this step (the slices it replaces were the
                // only others): normalise it where it is.
                let mut x = if left.get(name) == Some(&1) {
                    values.remove(name)
                } else {
                    values.get(name).cloned()
                }
                .ok_or_else(|| format!("the value {name} is used before it is made"))?;
                split_norm(&mut x, parts, *act)?;
                vec![x]
            } else {
                let args: Vec<Option<&Tensor>> = inputs
                    .iter()
                    .map(|&name| {
                        if name.is_empty() {
                            Ok(None)
                        } else {
                            values
                                .get(name)
                                .or_else(|| self.constants.get(name))
                                .map(Some)
                                .ok_or_else(|| {
                                    format!("the value {name} is used before it is made")
                                })
                        }
                    })
                    .collect::<Result<_>>()?;
                match step {
                    Step::Conv { conv, .. } => vec![run_conv(conv, args[0].unwrap())?],
                    Step::Op(n) => {
                        run_op(n, &args).map_err(|e| format!("{} ({}): {e}", n.op, n.name))?
                    }
                    Step::SplitNorm { .. } => unreachable!("run above"),
                }
            };
            for name in inputs.iter().filter(|n| !n.is_empty()) {
                if let Some(count) = left.get_mut(*name) {
                    *count -= 1;
                    if *count == 0 {
                        values.remove(name);
                    }
                }
            }
            for (name, value) in outputs.into_iter().zip(results) {
                values.insert(name, value);
            }
        }
        let out = values
            .remove(self.output.as_str())
            .ok_or("the graph's output was never made")?;
        match out.data {
            Data::F32(v) => Ok((out.dims, v)),
            Data::I64(_) => Err("the graph's output is not a picture".into()),
        }
    }
}

/// Finds the Slice → BatchNormalization / InstanceNormalization → Concat patterns that
/// cut a tensor's channels into consecutive ranges, normalise each, and join them in the
/// same order; returns the fused steps by the Concat's index and marks the nodes they
/// replace (and a ReLU or Clip after the Concat) in `skip`.
fn split_norms(
    nodes: &[Node],
    constants: &HashMap<String, Tensor>,
    readers: &HashMap<&str, usize>,
    output: &str,
    opset: i64,
    skip: &mut [bool],
) -> HashMap<usize, Step> {
    let maker: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let only_reader = |name: &str| readers.get(name) == Some(&1) && name != output;
    let constant_ints = |name: Option<&String>| match constants.get(name?).map(|t| &t.data) {
        Some(Data::I64(v)) => Some(v.clone()),
        _ => None,
    };
    let mut fused = HashMap::new();
    'concat: for (ci, concat) in nodes.iter().enumerate() {
        if concat.op != "Concat" || concat.int("axis") != Some(1) || concat.inputs.len() < 2 {
            continue;
        }
        let mut parts = Vec::new();
        let mut replaced = Vec::new();
        let mut source: Option<&str> = None;
        let mut next = 0i64;
        let last = concat.inputs.len() - 1;
        for (k, part) in concat.inputs.iter().enumerate() {
            let Some(&ni) = maker.get(part.as_str()) else {
                continue 'concat;
            };
            let norm_node = &nodes[ni];
            let constant = |i: usize| match constants.get(norm_node.inputs.get(i)?) {
                Some(Tensor {
                    data: Data::F32(v), ..
                }) => Some(v.clone()),
                _ => None,
            };
            let Some(norm) = Norm::of(norm_node, constant) else {
                continue 'concat;
            };
            let Some(&si) = norm_node.inputs.first().and_then(|i| maker.get(i.as_str())) else {
                continue 'concat;
            };
            let slice = &nodes[si];
            if !only_reader(part) || !only_reader(&norm_node.inputs[0]) || slice.op != "Slice" {
                continue 'concat;
            }
            let (starts, ends, axes) = if opset < 10 {
                (
                    slice.ints("starts").map(<[i64]>::to_vec),
                    slice.ints("ends").map(<[i64]>::to_vec),
                    slice.ints("axes").map(<[i64]>::to_vec),
                )
            } else {
                (
                    constant_ints(slice.inputs.get(1)),
                    constant_ints(slice.inputs.get(2)),
                    constant_ints(slice.inputs.get(3)),
                )
            };
            let steps = constant_ints(slice.inputs.get(4)).unwrap_or(vec![1]);
            let (Some([start]), Some([end]), Some([1]), [1]) = (
                starts.as_deref(),
                ends.as_deref(),
                axes.as_deref(),
                steps.as_slice(),
            ) else {
                continue 'concat;
            };
            let len = norm.channels() as i64;
            // Consecutive ranges from channel 0; the last may say "to the end" with any
            // larger number (checked against the channel count when it runs).
            if *start != next || *end < next + len || (k < last && *end != next + len) {
                continue 'concat;
            }
            next += len;
            let x = slice.inputs[0].as_str();
            if source.is_some_and(|s| s != x) {
                continue 'concat;
            }
            source = Some(x);
            parts.push(norm);
            replaced.extend([ni, si]);
        }
        let (Some(input), mut out) = (source, concat.outputs[0].clone()) else {
            continue;
        };
        for &i in &replaced {
            skip[i] = true;
        }
        let mut act = Act::None;
        if let Some((a, name, j)) =
            activation_after(nodes, ci, &out, constants, readers, output, opset)
        {
            act = a;
            out = name;
            skip[j] = true;
        }
        skip[ci] = true;
        fused.insert(
            ci,
            Step::SplitNorm {
                input: input.to_string(),
                output: out,
                parts,
                act,
            },
        );
    }
    fused
}

/// Runs a [`Step::SplitNorm`] in place.
fn split_norm(x: &mut Tensor, parts: &[Norm], act: Act) -> Result<()> {
    let channels: usize = parts.iter().map(Norm::channels).sum();
    let dims = x.dims.clone();
    let Data::F32(data) = &mut x.data else {
        return Err("a normalisation of integers".into());
    };
    if dims.len() < 3 || dims[1] != channels {
        return Err(format!(
            "normalisation of {channels} channels given a tensor of shape {dims:?}"
        ));
    }
    let plane: usize = dims[2..].iter().product();
    for image in data.chunks_mut((channels * plane).max(1)) {
        let mut planes = image.chunks_mut(plane.max(1));
        for part in parts {
            for c in 0..part.channels() {
                part.apply(c, planes.next().expect("counted above"), act);
            }
        }
    }
    Ok(())
}

fn weight<'a>(
    constants: &'a HashMap<String, Tensor>,
    name: &str,
    node: &Node,
) -> Result<&'a [f32]> {
    match constants.get(name).map(|t| &t.data) {
        Some(Data::F32(v)) => Ok(v),
        _ => Err(format!(
            "{} ({}): {name} is not a constant float tensor",
            node.op, node.name
        )),
    }
}

fn conv(node: &Node, constants: &HashMap<String, Tensor>) -> Result<Conv> {
    let name = &node.name;
    let w = node
        .inputs
        .get(1)
        .ok_or_else(|| format!("Conv {name} has no weights"))?;
    let shape = &constants
        .get(w)
        .ok_or_else(|| format!("Conv {name}: the weights are not constant"))?
        .dims;
    if shape.len() != 4 {
        return Err(format!("Conv {name}: only 2-D convolutions are supported"));
    }
    let (out, cin, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let weights = weight(constants, w, node)?.to_vec();
    let bias = match node.inputs.get(2).filter(|b| !b.is_empty()) {
        Some(b) => weight(constants, b, node)?.to_vec(),
        None => vec![0.0; out],
    };
    let pair = |key: &str, default: usize| -> Result<(usize, usize)> {
        match node.ints(key) {
            None => Ok((default, default)),
            Some([a, b]) if *a >= 0 && *b >= 0 => Ok((*a as usize, *b as usize)),
            Some(v) => Err(format!("Conv {name}: {key} {v:?} is not supported")),
        }
    };
    let pads = match node.ints("pads") {
        None => (0, 0, 0, 0),
        Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => {
            (*t as usize, *l as usize, *b as usize, *r as usize)
        }
        Some(v) => return Err(format!("Conv {name}: pads {v:?} are not supported")),
    };
    if node.text("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err(format!("Conv {name}: auto_pad is not supported"));
    }
    let groups = node.int("group").unwrap_or(1).max(1) as usize;
    let conv = Conv {
        weights,
        bias,
        out,
        cin,
        groups,
        kernel: (kh, kw),
        stride: pair("strides", 1)?,
        pads,
        dilation: pair("dilations", 1)?,
        act: Act::None,
        winograd: None,
        taps: None,
        direct: None,
    };
    if out % groups != 0
        || conv.bias.len() != out
        || conv.stride.0 == 0
        || conv.stride.1 == 0
        || conv.dilation.0 == 0
        || conv.dilation.1 == 0
    {
        return Err(format!("Conv {name}: inconsistent weights or attributes"));
    }
    Ok(conv)
}

/// A ReLU or a Clip with constant bounds that is the only reader of `out`, node `i`'s
/// output, and so can run inside node `i`: its activation, its output's name and its
/// index (to skip).
#[allow(clippy::too_many_arguments)]
fn activation_after(
    nodes: &[Node],
    i: usize,
    out: &str,
    constants: &HashMap<String, Tensor>,
    readers: &HashMap<&str, usize>,
    output: &str,
    opset: i64,
) -> Option<(Act, String, usize)> {
    if readers.get(out) != Some(&1) || out == output {
        return None;
    }
    let j = (i + 1..nodes.len()).find(|&j| nodes[j].inputs.iter().any(|n| n == out))?;
    let act = activation(&nodes[j], constants, opset)?;
    Some((act, nodes[j].outputs[0].clone(), j))
}

/// The activation a node applies, when it can run inside a convolution.
fn activation(node: &Node, constants: &HashMap<String, Tensor>, opset: i64) -> Option<Act> {
    match node.op.as_str() {
        "Relu" => Some(Act::Clip(0.0, f32::INFINITY)),
        "Clip" if opset < 11 => Some(Act::Clip(
            node.float("min").unwrap_or(f32::NEG_INFINITY),
            node.float("max").unwrap_or(f32::INFINITY),
        )),
        "Clip" => {
            let bound = |i: usize, default: f32| match node.inputs.get(i).filter(|n| !n.is_empty())
            {
                None => Some(default),
                Some(n) => match constants.get(n).map(|t| &t.data) {
                    Some(Data::F32(v)) if v.len() == 1 => Some(v[0]),
                    _ => None,
                },
            };
            Some(Act::Clip(
                bound(1, f32::NEG_INFINITY)?,
                bound(2, f32::INFINITY)?,
            ))
        }
        _ => None,
    }
}

fn run_conv(conv: &Conv, x: &Tensor) -> Result<Tensor> {
    let Data::F32(data) = &x.data else {
        return Err("Conv: the input is not a float tensor".into());
    };
    let [n, c, h, w] = x.dims[..] else {
        return Err(format!(
            "Conv: the input has shape {:?}, not N×C×H×W",
            x.dims
        ));
    };
    if c != conv.cin * conv.groups {
        return Err(format!(
            "Conv: the input has {c} channels, the weights expect {}",
            conv.cin * conv.groups
        ));
    }
    let (oh, ow) = conv
        .out_size(h, w)
        .ok_or_else(|| format!("Conv: a {h}×{w} input is smaller than the kernel"))?;
    let mut y = vec![0f32; n * conv.out * oh * ow];
    for b in 0..n {
        conv.run(
            &data[b * c * h * w..(b + 1) * c * h * w],
            h,
            w,
            &mut y[b * conv.out * oh * ow..(b + 1) * conv.out * oh * ow],
        );
    }
    Ok(Tensor {
        dims: vec![n, conv.out, oh, ow],
        data: Data::F32(y),
    })
}

fn run_op(node: &Node, args: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let arg = |i: usize| -> Result<&Tensor> {
        args.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is missing"))
    };
    let one = |t: Tensor| Ok(vec![t]);
    match node.op.as_str() {
        "Identity" => one(arg(0)?.clone()),
        "Relu" => one(map(arg(0)?, |v| v.max(0.0))?),
        "LeakyRelu" => {
            let a = node.float("alpha").unwrap_or(0.01);
            one(map(arg(0)?, |v| if v < 0.0 { a * v } else { v })?)
        }
        "Sigmoid" => one(map(arg(0)?, |v| 1.0 / (1.0 + (-v).exp()))?),
        "Clip" => {
            let (lo, hi) = if args.len() > 1 || node.attrs.is_empty() {
                let bound = |i: usize, d: f32| -> Result<f32> {
                    match args.get(i).copied().flatten() {
                        None => Ok(d),
                        Some(t) => Ok(*floats(t)?.first().ok_or("an empty bound")?),
                    }
                };
                (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
            } else {
                (
                    node.float("min").unwrap_or(f32::NEG_INFINITY),
                    node.float("max").unwrap_or(f32::INFINITY),
                )
            };
            one(map(arg(0)?, |v| v.max(lo).min(hi))?)
        }
        "Add" => one(broadcast(arg(0)?, arg(1)?, |a, b| a + b, |a, b| a + b)?),
        "Sub" => one(broadcast(arg(0)?, arg(1)?, |a, b| a - b, |a, b| a - b)?),
        "Mul" => one(broadcast(arg(0)?, arg(1)?, |a, b| a * b, |a, b| a * b)?),
        "Div" => one(broadcast(
            arg(0)?,
            arg(1)?,
            |a, b| a / b,
            |a, b| if b == 0 { 0 } else { a / b },
        )?),
        "BatchNormalization" | "InstanceNormalization" => {
            let param = |i: usize| {
                let t = args.get(i).copied().flatten()?;
                floats(t).ok().map(<[f32]>::to_vec)
            };
            let norm = Norm::of(node, param).ok_or("parameters missing or of unequal lengths")?;
            let mut x = arg(0)?.clone();
            split_norm(&mut x, &[norm], Act::None)?;
            one(x)
        }
        "GlobalAveragePool" => {
            let x = arg(0)?;
            let data = floats(x)?;
            if x.dims.len() < 3 {
                return Err(format!("shape {:?}", x.dims));
            }
            let plane: usize = x.dims[2..].iter().product();
            let out: Vec<f32> = data
                .chunks(plane.max(1))
                .map(|p| (lane_sum(p, |v| v) / plane.max(1) as f64) as f32)
                .collect();
            let mut dims = x.dims.clone();
            dims[2..].iter_mut().for_each(|d| *d = 1);
            one(float_tensor(dims, out))
        }
        "MatMul" => one(matmul(arg(0)?, arg(1)?, false, 1.0)?),
        "Gemm" => {
            let (a, b) = (arg(0)?, arg(1)?);
            let a = if node.int("transA") == Some(1) {
                transpose2(a)?
            } else {
                a.clone()
            };
            let alpha = node.float("alpha").unwrap_or(1.0);
            let beta = node.float("beta").unwrap_or(1.0);
            let y = matmul(&a, b, node.int("transB") == Some(1), alpha)?;
            match args.get(2).copied().flatten() {
                None => one(y),
                Some(c) => {
                    let c = map(c, |v| v * beta)?;
                    one(broadcast(&y, &c, |a, b| a + b, |a, b| a + b)?)
                }
            }
        }
        "Concat" => one(concat(args, node.int("axis").unwrap_or(0))?),
        "Slice" => one(slice(node, args)?),
        "Resize" | "Upsample" => one(resize(node, args)?),
        "Shape" => {
            let x = arg(0)?;
            one(int_tensor(
                vec![x.dims.len()],
                x.dims.iter().map(|&d| d as i64).collect(),
            ))
        }
        "Gather" => one(gather(arg(0)?, arg(1)?, node.int("axis").unwrap_or(0))?),
        "Unsqueeze" | "Squeeze" => {
            let x = arg(0)?;
            let axes: Vec<i64> = match node.ints("axes") {
                Some(a) => a.to_vec(),
                None => match args.get(1).copied().flatten() {
                    Some(t) => ints(t)?.to_vec(),
                    None => Vec::new(),
                },
            };
            let mut dims = x.dims.clone();
            if node.op == "Unsqueeze" {
                let rank = dims.len() + axes.len();
                let mut axes: Vec<usize> =
                    axes.iter().map(|&a| axis(a, rank)).collect::<Result<_>>()?;
                axes.sort_unstable();
                for a in axes {
                    dims.insert(a, 1);
                }
            } else if axes.is_empty() {
                dims.retain(|&d| d != 1);
            } else {
                let rank = dims.len();
                let axes: Vec<usize> =
                    axes.iter().map(|&a| axis(a, rank)).collect::<Result<_>>()?;
                dims = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, d)| *d)
                    .collect();
            }
            one(Tensor {
                dims,
                data: x.data.clone(),
            })
        }
        "Reshape" => {
            let x = arg(0)?;
            let spec = ints(arg(1)?)?;
            let total: usize = x.dims.iter().product();
            let mut dims: Vec<usize> = Vec::with_capacity(spec.len());
            let mut free = None;
            for (i, &s) in spec.iter().enumerate() {
                match s {
                    0 => dims.push(*x.dims.get(i).ok_or("0 past the input's rank")?),
                    -1 => {
                        free = Some(i);
                        dims.push(1);
                    }
                    s if s > 0 => dims.push(s as usize),
                    s => return Err(format!("size {s}")),
                }
            }
            let known: usize = dims.iter().product();
            if let Some(i) = free {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(format!("cannot reshape {:?} to {spec:?}", x.dims));
                }
                dims[i] = total / known;
            }
            if dims.iter().product::<usize>() != total {
                return Err(format!("cannot reshape {:?} to {spec:?}", x.dims));
            }
            one(Tensor {
                dims,
                data: x.data.clone(),
            })
        }
        "Flatten" => {
            let x = arg(0)?;
            let a = axis(node.int("axis").unwrap_or(1), x.dims.len() + 1)?;
            let outer: usize = x.dims[..a].iter().product();
            let inner: usize = x.dims[a..].iter().product();
            one(Tensor {
                dims: vec![outer, inner],
                data: x.data.clone(),
            })
        }
        "Expand" => {
            let x = arg(0)?;
            let to: Vec<usize> = ints(arg(1)?)?
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| format!("size {d}")))
                .collect::<Result<_>>()?;
            let shape = broadcast_shape(&x.dims, &to)?;
            let zeros = match &x.data {
                Data::F32(_) => float_tensor(shape.clone(), vec![0.0; shape.iter().product()]),
                Data::I64(_) => int_tensor(shape.clone(), vec![0; shape.iter().product()]),
            };
            one(broadcast(x, &zeros, |a, _| a, |a, _| a)?)
        }
        "Cast" => {
            let x = arg(0)?;
            // TensorProto.DataType: FLOAT 1, DOUBLE 11, FLOAT16 10; integers otherwise.
            let data = match (node.int("to"), &x.data) {
                (Some(1 | 10 | 11), Data::I64(v)) => {
                    Data::F32(v.iter().map(|&i| i as f32).collect())
                }
                (Some(1 | 10 | 11), d) => d.clone(),
                (_, Data::F32(v)) => Data::I64(v.iter().map(|&f| f as i64).collect()),
                (_, d) => d.clone(),
            };
            one(Tensor {
                dims: x.dims.clone(),
                data,
            })
        }
        op => Err(format!("the operator {op} is not supported")),
    }
}

fn float_tensor(dims: Vec<usize>, data: Vec<f32>) -> Tensor {
    Tensor {
        dims,
        data: Data::F32(data),
    }
}

fn int_tensor(dims: Vec<usize>, data: Vec<i64>) -> Tensor {
    Tensor {
        dims,
        data: Data::I64(data),
    }
}

fn floats(t: &Tensor) -> Result<&[f32]> {
    match &t.data {
        Data::F32(v) => Ok(v),
        Data::I64(_) => Err("expected a float tensor".into()),
    }
}

fn ints(t: &Tensor) -> Result<&[i64]> {
    match &t.data {
        Data::I64(v) => Ok(v),
        Data::F32(_) => Err("expected an integer tensor".into()),
    }
}

/// An axis given as ONNX does (negative counts from the end).
fn axis(a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(format!("axis {a} out of range for rank {rank}"));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

fn map(x: &Tensor, f: impl Fn(f32) -> f32) -> Result<Tensor> {
    Ok(float_tensor(
        x.dims.clone(),
        floats(x)?.iter().map(|&v| f(v)).collect(),
    ))
}

/// Σ f(v), in 16 float lanes (which the compiler vectorises) added up in f64.
fn lane_sum(v: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(f(x))).sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f(x);
        }
    }
    lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + tail
}

fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank {
                a[i + a.len() - rank]
            } else {
                1
            };
            let db = if i + b.len() >= rank {
                b[i + b.len() - rank]
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// Element-wise `f` with NumPy broadcasting.
fn broadcast(
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(f32, f32) -> f32,
    g: impl Fn(i64, i64) -> i64,
) -> Result<Tensor> {
    let shape = broadcast_shape(&a.dims, &b.dims)?;
    let n: usize = shape.iter().product();
    // For each operand, its stride along each output axis (0 where it is broadcast).
    let strides = |dims: &[usize]| -> Vec<usize> {
        let rank = shape.len();
        let mut out = vec![0; rank];
        let mut s = 1;
        for i in (0..dims.len()).rev() {
            let o = i + rank - dims.len();
            out[o] = if dims[i] == 1 { 0 } else { s };
            s *= dims[i];
        }
        out
    };
    let (sa, sb) = (strides(&a.dims), strides(&b.dims));
    let index = |mut i: usize, s: &[usize]| {
        let mut at = 0;
        for d in (0..shape.len()).rev() {
            at += (i % shape[d]) * s[d];
            i /= shape[d];
        }
        at
    };
    match (&a.data, &b.data) {
        (Data::F32(x), Data::F32(y)) => {
            let data = if a.dims == b.dims {
                x.iter().zip(y).map(|(&p, &q)| f(p, q)).collect()
            } else if b.dims.iter().product::<usize>() == 1 {
                x.iter().map(|&p| f(p, y[0])).collect()
            } else {
                // Runs along the last axis: each operand steps by 1 or stays (broadcast).
                let last = shape.last().copied().unwrap_or(1).max(1);
                let (ta, tb) = (
                    sa.last().copied().unwrap_or(0),
                    sb.last().copied().unwrap_or(0),
                );
                let mut data = Vec::with_capacity(n);
                for run in 0..n / last {
                    let (ia, ib) = (index(run * last, &sa), index(run * last, &sb));
                    data.extend((0..last).map(|j| f(x[ia + j * ta], y[ib + j * tb])));
                }
                data
            };
            Ok(float_tensor(shape.clone(), data))
        }
        (Data::I64(x), Data::I64(y)) => {
            let data = (0..n)
                .map(|i| g(x[index(i, &sa)], y[index(i, &sb)]))
                .collect();
            Ok(int_tensor(shape.clone(), data))
        }
        _ => Err("operands of different types".into()),
    }
}

fn transpose2(a: &Tensor) -> Result<Tensor> {
    let [m, k] = a.dims[..] else {
        return Err(format!("shape {:?} is not a matrix", a.dims));
    };
    let x = floats(a)?;
    let mut out = vec![0f32; m * k];
    for i in 0..m {
        for j in 0..k {
            out[j * m + i] = x[i * k + j];
        }
    }
    Ok(float_tensor(vec![k, m], out))
}

/// (…×m×k) · (k×n), or (k×n)ᵀ given as n×k when `b_transposed`.
fn matmul(a: &Tensor, b: &Tensor, b_transposed: bool, alpha: f32) -> Result<Tensor> {
    let (x, y) = (floats(a)?, floats(b)?);
    let (&k, lead) = a.dims.split_last().ok_or("a scalar operand")?;
    let m: usize = lead.iter().product();
    let [p, q] = b.dims[..] else {
        return Err(format!("the right operand {:?} is not a matrix", b.dims));
    };
    let (bk, n) = if b_transposed { (q, p) } else { (p, q) };
    if bk != k {
        return Err(format!(
            "shapes {:?} and {:?} do not multiply",
            a.dims, b.dims
        ));
    }
    let mut out = vec![0f32; m * n];
    for (i, row) in out.chunks_mut(n.max(1)).enumerate() {
        let a = &x[i * k..(i + 1) * k];
        if b_transposed {
            for (j, o) in row.iter_mut().enumerate() {
                *o = alpha
                    * a.iter()
                        .zip(&y[j * k..(j + 1) * k])
                        .map(|(p, q)| p * q)
                        .sum::<f32>();
            }
        } else {
            // Row by row of b, so that the inner loop runs along contiguous memory.
            for (t, &av) in a.iter().enumerate() {
                for (o, &bv) in row.iter_mut().zip(&y[t * n..(t + 1) * n]) {
                    *o += av * bv;
                }
            }
            row.iter_mut().for_each(|o| *o *= alpha);
        }
    }
    let mut dims = lead.to_vec();
    dims.push(n);
    Ok(float_tensor(dims, out))
}

fn concat(args: &[Option<&Tensor>], a: i64) -> Result<Tensor> {
    let parts: Vec<&Tensor> = args.iter().flatten().copied().collect();
    let first = parts.first().ok_or("nothing to join")?;
    let rank = first.dims.len();
    let a = axis(a, rank)?;
    let mut dims = first.dims.clone();
    dims[a] = 0;
    for p in &parts {
        if p.dims.len() != rank || (0..rank).any(|i| i != a && p.dims[i] != first.dims[i]) {
            return Err(format!(
                "shapes {:?} and {:?} do not join",
                first.dims, p.dims
            ));
        }
        dims[a] += p.dims[a];
    }
    let outer: usize = dims[..a].iter().product();
    let inner: usize = dims[a + 1..].iter().product();
    let runs: Vec<(usize, usize, usize)> = (0..outer)
        .flat_map(|o| {
            parts.iter().enumerate().map(move |(i, p)| {
                let run = p.dims[a] * inner;
                (i, o * run, run)
            })
        })
        .collect();
    copy_runs(&parts, &runs, dims)
}

/// A tensor of shape `dims` made of the copies `(source, start, length)` from
/// `sources`, in order. The sources are all float or all integer.
fn copy_runs(
    sources: &[&Tensor],
    runs: &[(usize, usize, usize)],
    dims: Vec<usize>,
) -> Result<Tensor> {
    fn join<T: Copy>(from: &[&[T]], runs: &[(usize, usize, usize)]) -> Vec<T> {
        let mut out = Vec::with_capacity(runs.iter().map(|r| r.2).sum());
        for &(i, start, len) in runs {
            out.extend_from_slice(&from[i][start..start + len]);
        }
        out
    }
    match sources.first().map(|t| &t.data) {
        Some(Data::I64(_)) => {
            let from: Vec<&[i64]> = sources.iter().map(|t| ints(t)).collect::<Result<_>>()?;
            Ok(int_tensor(dims, join(&from, runs)))
        }
        _ => {
            let from: Vec<&[f32]> = sources.iter().map(|t| floats(t)).collect::<Result<_>>()?;
            Ok(float_tensor(dims, join(&from, runs)))
        }
    }
}

fn slice(node: &Node, args: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = args.first().copied().flatten().ok_or("no input")?;
    let rank = x.dims.len();
    if rank == 0 {
        return Err("a scalar cannot be sliced".into());
    }
    let list = |i: usize, attr: &str| -> Result<Option<Vec<i64>>> {
        if let Some(v) = node.ints(attr) {
            return Ok(Some(v.to_vec()));
        }
        match args.get(i).copied().flatten() {
            Some(t) => Ok(Some(ints(t)?.to_vec())),
            None => Ok(None),
        }
    };
    let starts = list(1, "starts")?.ok_or("no starts")?;
    let ends = list(2, "ends")?.ok_or("no ends")?;
    let axes = list(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = list(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    let mut lo: Vec<usize> = vec![0; rank];
    let mut hi: Vec<usize> = x.dims.clone();
    for (i, &start) in starts.iter().enumerate() {
        let a = axis(*axes.get(i).ok_or("fewer axes than starts")?, rank)?;
        if steps.get(i).copied().unwrap_or(1) != 1 {
            return Err("only steps of 1 are supported".into());
        }
        let d = x.dims[a] as i64;
        let clamp = |v: i64| (if v < 0 { v + d } else { v }).clamp(0, d) as usize;
        lo[a] = clamp(start);
        hi[a] = clamp(*ends.get(i).ok_or("fewer ends than starts")?).max(lo[a]);
    }
    let dims: Vec<usize> = (0..rank).map(|i| hi[i] - lo[i]).collect();
    // Copy runs along the last axis: one per index of the axes before it.
    let inner = dims[rank - 1];
    let runs: usize = dims[..rank - 1].iter().product();
    let starts_of: Vec<usize> = (0..if inner == 0 { 0 } else { runs })
        .map(|k| {
            let (mut rem, mut at, mut stride) = (k, lo[rank - 1], x.dims[rank - 1]);
            for d in (0..rank - 1).rev() {
                at += (lo[d] + rem % dims[d]) * stride;
                rem /= dims[d];
                stride *= x.dims[d];
            }
            at
        })
        .collect();
    let runs: Vec<_> = starts_of.iter().map(|&start| (0, start, inner)).collect();
    copy_runs(&[x], &runs, dims)
}

fn gather(x: &Tensor, indices: &Tensor, a: i64) -> Result<Tensor> {
    let a = axis(a, x.dims.len())?;
    let idx = ints(indices)?;
    let d = x.dims[a] as i64;
    let outer: usize = x.dims[..a].iter().product();
    let inner: usize = x.dims[a + 1..].iter().product();
    let mut dims = x.dims[..a].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&x.dims[a + 1..]);
    let pick = |i: i64| -> Result<usize> {
        let j = if i < 0 { i + d } else { i };
        if j < 0 || j >= d {
            return Err(format!("index {i} out of range"));
        }
        Ok(j as usize)
    };
    let picks: Vec<usize> = idx.iter().map(|&i| pick(i)).collect::<Result<_>>()?;
    let order: Vec<usize> = (0..outer)
        .flat_map(|o| picks.iter().map(move |&p| (o * x.dims[a] + p) * inner))
        .collect();
    let runs: Vec<_> = order.iter().map(|&start| (0, start, inner)).collect();
    copy_runs(&[x], &runs, dims)
}

/// Resize (and the older Upsample) on N×C×H×W: linear or nearest, with ONNX's
/// coordinate transformations.
fn resize(node: &Node, args: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = args.first().copied().flatten().ok_or("no input")?;
    let [n, c, h, w] = x.dims[..] else {
        return Err(format!(
            "only N×C×H×W inputs are supported, not {:?}",
            x.dims
        ));
    };
    let data = floats(x)?;
    // Upsample: (X, scales); Resize 11+: (X, roi, scales, sizes); Resize 10: (X, scales).
    let (scales, sizes) = if node.op == "Upsample" || args.len() == 2 {
        (args.get(1).copied().flatten(), None)
    } else {
        (
            args.get(2).copied().flatten(),
            args.get(3).copied().flatten(),
        )
    };
    let (oh, ow, sy, sx) = match (sizes, scales) {
        (Some(s), _) => {
            let s = ints(s)?;
            let [_, _, oh, ow] = s[..] else {
                return Err("sizes must have four numbers".into());
            };
            let (oh, ow) = (oh as usize, ow as usize);
            (oh, ow, oh as f32 / h as f32, ow as f32 / w as f32)
        }
        (None, Some(s)) if !s.dims.contains(&0) => {
            let s = floats(s)?;
            let [sn, sc, sy, sx] = s[..] else {
                return Err("scales must have four numbers".into());
            };
            if sn != 1.0 || sc != 1.0 {
                return Err("only the picture's height and width can be resized".into());
            }
            (
                (h as f32 * sy).floor() as usize,
                (w as f32 * sx).floor() as usize,
                sy,
                sx,
            )
        }
        _ => return Err("neither scales nor sizes given".into()),
    };
    let mode = node.text("mode").unwrap_or("nearest");
    let transform =
        node.text("coordinate_transformation_mode")
            .unwrap_or(if node.op == "Upsample" {
                "asymmetric"
            } else {
                "half_pixel"
            });
    // The input coordinate of output coordinate `o`.
    let source = |o: usize, scale: f32, len_in: usize, len_out: usize| -> Result<f32> {
        let o = o as f32;
        Ok(match transform {
            "half_pixel" => (o + 0.5) / scale - 0.5,
            "pytorch_half_pixel" if len_out > 1 => (o + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => 0.0,
            "align_corners" if len_out > 1 => o * (len_in as f32 - 1.0) / (len_out as f32 - 1.0),
            "align_corners" => 0.0,
            "asymmetric" => o / scale,
            t => return Err(format!("coordinate transformation {t} is not supported")),
        })
    };
    let mut out = vec![0f32; n * c * oh * ow];
    match mode {
        "linear" | "bilinear" => {
            // Per output row and column: the two source indices and the weight of the second.
            let taps =
                |len_out: usize, len_in: usize, scale: f32| -> Result<Vec<(usize, usize, f32)>> {
                    (0..len_out)
                        .map(|o| {
                            let s =
                                source(o, scale, len_in, len_out)?.clamp(0.0, (len_in - 1) as f32);
                            let i0 = s.floor() as usize;
                            let i1 = (i0 + 1).min(len_in - 1);
                            Ok((i0, i1, s - i0 as f32))
                        })
                        .collect()
                };
            let (ty, tx) = (taps(oh, h, sy)?, taps(ow, w, sx)?);
            let horizontal = |row: &[f32], into: &mut [f32]| {
                for (o, &(x0, x1, fx)) in into.iter_mut().zip(&tx) {
                    *o = row[x0] + (row[x1] - row[x0]) * fx;
                }
            };
            // The last two input rows, enlarged horizontally: an enlargement reads each
            // input row for several output rows in a row.
            let mut rows = [(usize::MAX, vec![0f32; ow]), (usize::MAX, vec![0f32; ow])];
            for p in 0..n * c {
                let plane = &data[p * h * w..(p + 1) * h * w];
                let dst = &mut out[p * oh * ow..(p + 1) * oh * ow];
                rows[0].0 = usize::MAX;
                rows[1].0 = usize::MAX;
                for (y, &(y0, y1, fy)) in ty.iter().enumerate() {
                    for want in [y0, y1] {
                        if rows[0].0 != want && rows[1].0 != want {
                            // Replace the row that is not the other one wanted.
                            let slot = usize::from(rows[0].0 == y0 || rows[0].0 == y1);
                            horizontal(&plane[want * w..(want + 1) * w], &mut rows[slot].1);
                            rows[slot].0 = want;
                        }
                    }
                    let r0 = &rows[usize::from(rows[0].0 != y0)].1;
                    let r1 = &rows[usize::from(rows[0].0 != y1)].1;
                    let line = &mut dst[y * ow..(y + 1) * ow];
                    if fy == 0.0 {
                        line.copy_from_slice(r0);
                    } else {
                        for ((o, a), b) in line.iter_mut().zip(r0).zip(r1) {
                            *o = a + (b - a) * fy;
                        }
                    }
                }
            }
        }
        "nearest" => {
            let rule = node.text("nearest_mode").unwrap_or("round_prefer_floor");
            let pick = |o: usize, scale: f32, len_in: usize, len_out: usize| -> Result<usize> {
                let s = source(o, scale, len_in, len_out)?;
                let i = match rule {
                    "floor" => s.floor(),
                    "ceil" => s.ceil(),
                    "round_prefer_ceil" => (s + 0.5).floor(),
                    _ => (s - 0.5).ceil(),
                };
                Ok((i.max(0.0) as usize).min(len_in - 1))
            };
            let ys: Vec<usize> = (0..oh).map(|o| pick(o, sy, h, oh)).collect::<Result<_>>()?;
            let xs: Vec<usize> = (0..ow).map(|o| pick(o, sx, w, ow)).collect::<Result<_>>()?;
            for p in 0..n * c {
                for (y, &iy) in ys.iter().enumerate() {
                    for (x, &ix) in xs.iter().enumerate() {
                        out[(p * oh + y) * ow + x] = data[(p * h + iy) * w + ix];
                    }
                }
            }
        }
        m => return Err(format!("mode {m} is not supported")),
    }
    Ok(float_tensor(vec![n, c, oh, ow], out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::Attr;

    fn node(op: &str, inputs: &[&str], output: &str, attrs: &[(&str, Attr)]) -> Node {
        Node {
            name: format!("{op}_{output}"),
            op: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn ints(v: &[i64]) -> Tensor {
        int_tensor(vec![v.len()], v.to_vec())
    }

    #[test]
    fn a_model_with_an_operator_we_lack_is_refused_naming_it() {
        let graph = Graph {
            opset: 13,
            nodes: vec![node("Einsum", &["x"], "y", &[])],
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            ..Default::default()
        };
        let err = Net::new(graph).err().expect("refused");
        assert!(err.contains("Einsum"), "{err}");
    }

    #[test]
    fn channel_ranges_normalised_apart_run_fused_and_match_the_nodes_they_replace() {
        // x (1×3×1×4) → Slice [0,1) → BatchNormalization, Slice [1, big) →
        // InstanceNormalization → Concat → Relu, as MODNet's export spells IBNorm; and
        // the same graph with a second reader of the Concat, which keeps the ReLU apart.
        let mut weights: HashMap<String, Tensor> = [
            ("s0", ints(&[0])),
            ("e0", ints(&[1])),
            ("s1", ints(&[1])),
            ("e1", ints(&[i64::MAX])),
            ("ax", ints(&[1])),
            ("bn_scale", float_tensor(vec![1], vec![2.0])),
            ("bn_bias", float_tensor(vec![1], vec![-1.0])),
            ("bn_mean", float_tensor(vec![1], vec![0.5])),
            ("bn_var", float_tensor(vec![1], vec![4.0])),
            ("in_scale", float_tensor(vec![2], vec![1.0, 3.0])),
            ("in_bias", float_tensor(vec![2], vec![0.0, 0.5])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        weights.insert("zero".into(), float_tensor(vec![1], vec![0.0]));
        let nodes = |extra: bool| {
            let mut n = vec![
                node("Slice", &["x", "s0", "e0", "ax"], "a", &[]),
                node(
                    "BatchNormalization",
                    &["a", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                    "an",
                    &[("epsilon", Attr::Float(0.0))],
                ),
                node("Slice", &["x", "s1", "e1", "ax"], "b", &[]),
                node(
                    "InstanceNormalization",
                    &["b", "in_scale", "in_bias"],
                    "bn",
                    &[("epsilon", Attr::Float(0.0))],
                ),
                node("Concat", &["an", "bn"], "cat", &[("axis", Attr::Int(1))]),
                node("Relu", &["cat"], "r", &[]),
            ];
            if extra {
                n.push(node("Add", &["r", "cat"], "y", &[]));
            } else {
                n.push(node("Add", &["r", "zero"], "y", &[]));
            }
            n
        };
        let x = vec![1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0, 1.0, 2.0, 3.0, 5.0];
        let mut results = Vec::new();
        for extra in [false, true] {
            let net = Net::new(Graph {
                opset: 13,
                nodes: nodes(extra),
                weights: weights.clone(),
                inputs: vec!["x".into()],
                outputs: vec!["y".into()],
            })
            .unwrap();
            // Fused either way; the ReLU runs inside only when it is the Concat's only
            // reader.
            let acts: Vec<Act> = net
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::SplitNorm { act, .. } => Some(*act),
                    _ => None,
                })
                .collect();
            let relu = Act::Clip(0.0, f32::INFINITY);
            assert_eq!(acts, [if extra { Act::None } else { relu }]);
            assert_eq!(net.steps.len(), if extra { 3 } else { 2 });
            let (dims, y) = net.run(&[1, 3, 1, 4], x.clone()).unwrap();
            assert_eq!(dims, [1, 3, 1, 4]);
            results.push(y);
        }
        // By hand: channel 0 is 2·(x − 0.5)/2 − 1 = x − 1.5, then ReLU.
        let y = &results[0];
        for (i, &v) in x[..4].iter().enumerate() {
            assert!((y[i] - (v - 1.5f32).max(0.0)).abs() < 1e-6, "{i}: {}", y[i]);
        }
        // Channel 1 (0 1 0 1): mean 0.5, variance 0.25, so ±1, then ReLU: 0 1 0 1.
        assert_eq!(&y[4..8], &[0.0, 1.0, 0.0, 1.0]);
        // Channel 2 (1 2 3 5): normalised, ×3 + 0.5, ReLU; its mean is 0.5 before ReLU.
        let mean: f32 = y[8..12].iter().sum::<f32>() / 4.0;
        assert!(mean > 0.5 && y[8] == 0.0 && y[11] > 3.0, "{:?}", &y[8..12]);
        // The second graph adds the Concat to its ReLU: where the ReLU kept a value,
        // that is twice the fused result.
        for (f, u) in results[0].iter().zip(&results[1]) {
            if *f > 0.0 {
                assert!((u - 2.0 * f).abs() < 1e-5, "{u} against {f}");
            }
        }
    }

    #[test]
    fn normalisations_outside_the_fused_pattern_run_on_their_own() {
        let weights: HashMap<String, Tensor> = [
            ("g", float_tensor(vec![2], vec![2.0, 1.0])),
            ("b", float_tensor(vec![2], vec![1.0, 0.0])),
            ("m", float_tensor(vec![2], vec![1.0, 0.0])),
            ("v", float_tensor(vec![2], vec![4.0, 1.0])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let x = vec![1.0, 3.0, 5.0, 7.0];
        let run = |n: Node| {
            let net = Net::new(Graph {
                opset: 13,
                nodes: vec![n],
                weights: weights.clone(),
                inputs: vec!["x".into()],
                outputs: vec!["y".into()],
            })
            .unwrap();
            net.run(&[1, 2, 1, 2], x.clone()).unwrap().1
        };
        let eps = [("epsilon", Attr::Float(0.0))];
        // (x − mean) / √var · scale + bias, per channel.
        let bn = run(node(
            "BatchNormalization",
            &["x", "g", "b", "m", "v"],
            "y",
            &eps,
        ));
        assert_eq!(bn, [1.0, 3.0, 5.0, 7.0]);
        // Each channel to mean 0, variance 1 (1 3 → −1 1; 5 7 → −1 1), then scale, bias.
        let inorm = run(node("InstanceNormalization", &["x", "g", "b"], "y", &eps));
        assert_eq!(inorm, [-1.0, 3.0, -1.0, 1.0]);
    }
}
