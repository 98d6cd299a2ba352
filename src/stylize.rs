//! `articket stylize`: the painters offline, on files or on the built-in sample portraits.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use articket_studio::{Offline, OfflinePainting};
use articket_style::{samples, Painter};
use articket_ticket::{SheetRow, TicketContent, TicketPainting, TicketRenderer};
use articket_web::Config;
use image::RgbImage;

pub struct StylizeArgs {
    pub inputs: Vec<PathBuf>,
    pub out: Option<PathBuf>,
    pub contact_sheet: Option<PathBuf>,
    pub painters: Vec<Painter>,
    pub name: String,
    pub config: anyhow::Result<Config>,
    /// On a contact sheet, each photo twice: with its own background and with the
    /// configured one (`[painting] background`, which needs `[matting]`).
    pub backdrops: bool,
}

/// The seed of offline runs: fixed, so a contact sheet changes only when a renderer does.
const SEED: u64 = 0x0A27_1C3E;

pub fn run(args: &StylizeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Ok(c) => c,
        Err(e) => bail!("{e:#}"),
    };
    let painters = if args.painters.is_empty() {
        config.painting.painters.clone()
    } else {
        args.painters.clone()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // The booth's own painting code: the configured backend with its fallback, and a
    // visit's tries per painter.
    let studio = runtime.block_on(Offline::start(config.clone()))?;
    if let Some(sheet) = &args.contact_sheet {
        let mut studios = vec![(String::new(), studio)];
        if args.backdrops {
            let mut plain = config.clone();
            plain.painting.background = articket_style::builtin::backdrop::Background::Photo;
            plain.painting.backgrounds.clear();
            let backdrop = match config.painting.background {
                articket_style::builtin::backdrop::Background::Image => "the event's picture",
                _ => "the painter's world",
            };
            studios[0].0 = format!(", {backdrop}");
            let plain = runtime.block_on(Offline::start(plain))?;
            studios.insert(0, (", the photo's background".to_owned(), plain));
        }
        return contact_sheet(&runtime, &studios, config, &args.inputs, &painters, sheet);
    }
    let (Some(out), [input]) = (&args.out, &args.inputs[..]) else {
        bail!("name exactly one photo to stylize with --out (or use --contact-sheet)");
    };
    let photo = load(config, input)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    println!("painting with the {} painters", studio.backend());
    let results = runtime.block_on(studio.paint("stylize", photo, &painters, SEED))?;
    let mut paintings = Vec::new();
    for OfflinePainting {
        painter,
        took,
        painting,
    } in results
    {
        let ms = took.as_secs_f64() * 1e3;
        let img = match painting {
            Ok(img) => img,
            Err(e) => {
                println!("{:<13} {ms:>6.1} ms  failed: {e}", painter.id());
                continue;
            }
        };
        let jpeg = articket_intake::encode_jpeg(&img, config.upload.intake.jpeg_quality)?;
        let path = out.join(format!("{}.jpg", painter.id()));
        std::fs::write(&path, &jpeg).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{:<13} {ms:>6.1} ms  {}", painter.id(), path.display());
        paintings.push(TicketPainting {
            painter,
            label_en: painter.name_en().into(),
            label_ko: painter.name_ko().into(),
            tagline: None,
            image: img.into(),
        });
    }
    if paintings.is_empty() {
        bail!("no painter finished, so there is no ticket");
    }
    let ticket = TicketRenderer::new()
        .with_design(config.ticket.design())
        .phone_ticket_png(&TicketContent {
            name: args.name.clone(),
            date: chrono::Local::now().format("%Y.%m.%d").to_string(),
            serial: None,
            link: None,
            paintings,
            quiz: None,
        })?;
    let path = out.join("ticket.png");
    std::fs::write(&path, ticket).with_context(|| format!("cannot write {}", path.display()))?;
    println!("ticket        {}", path.display());
    Ok(())
}

fn load(config: &Config, input: &Path) -> anyhow::Result<RgbImage> {
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let photo = articket_intake::process(&bytes, &config.upload.intake)
        .with_context(|| format!("{} was refused", input.display()))?;
    Ok(photo.image)
}

/// A grid of photos × painters; each photo once per studio, labelled with the studio's
/// suffix.
fn contact_sheet(
    runtime: &tokio::runtime::Runtime,
    studios: &[(String, Offline)],
    config: &Config,
    inputs: &[PathBuf],
    painters: &[Painter],
    out: &Path,
) -> anyhow::Result<()> {
    let photos: Vec<(String, RgbImage)> = if inputs.is_empty() {
        samples::LOOKS
            .iter()
            .enumerate()
            .map(|(i, &look)| {
                (
                    format!("sample portrait {}", i + 1),
                    samples::portrait(384, 512, look),
                )
            })
            .collect()
    } else {
        inputs
            .iter()
            .map(|p| Ok((p.display().to_string(), load(config, p)?)))
            .collect::<anyhow::Result<_>>()?
    };
    let png = |img: &RgbImage| -> anyhow::Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)?;
        Ok(out.into_inner())
    };
    let mut rows = Vec::new();
    for (label, photo) in &photos {
        for (suffix, studio) in studios {
            let mut images = vec![png(photo)?];
            let painted = runtime.block_on(studio.paint(label, photo.clone(), painters, SEED))?;
            for p in painted {
                let img = p
                    .painting
                    .with_context(|| format!("{} could not paint {label}", p.painter.name_en()))?;
                images.push(png(&img)?);
            }
            rows.push(SheetRow {
                label: format!("{label}{suffix}"),
                images,
            });
        }
    }
    let mut columns = vec!["Photo\n사진".to_owned()];
    columns.extend(
        painters
            .iter()
            .map(|p| format!("{}\n{}", p.name_en(), p.name_ko())),
    );
    let sheet = TicketRenderer::new().contact_sheet_png(&columns, &rows, (240, 320))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, sheet).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "contact sheet: {} ({} rows x {} painters)",
        out.display(),
        rows.len(),
        painters.len()
    );
    Ok(())
}
