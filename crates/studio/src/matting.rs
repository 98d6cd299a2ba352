//! The person in the photo: the matting model as `[matting]` configures it, and the
//! built-in painters' backgrounds as `[painting]` does.

use std::sync::Arc;

use anyhow::Context as _;
use articket_config::Config;
use articket_intake::Person;
use articket_matting::Matter;
use articket_style::builtin::backdrop::Backdrops;
use articket_style::faces::Face;
use image::RgbImage;

/// Loads the matting model. `Ok(None)` when matting is off, or when no model was named
/// and none is at the default place (the log says how to add one). A model that was
/// named and cannot be loaded stops the start, naming the key.
pub fn load_matter(config: &Config) -> anyhow::Result<Option<Arc<Matter>>> {
    let Some((path, named)) = config.matting.model_path() else {
        tracing::info!("matting is off ([matting] enabled = false)");
        return Ok(None);
    };
    if !named && !path.is_file() {
        tracing::info!(
            "no matting model at {}: painters paint the photo's own background. \
             `articket models pull modnet` adds one (MODNet, Apache-2.0, 26 MB)",
            path.display()
        );
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let matter = Matter::load(&path, config.matting.side)
        .with_context(|| format!("config key `matting.model` ({})", path.display()))?;
    tracing::info!(
        "matting with {} at {} px (loaded in {} ms)",
        path.display(),
        matter.side(),
        started.elapsed().as_millis()
    );
    Ok(Some(Arc::new(matter)))
}

/// Who is in the photo: every face, and the matte if it can be trusted. With no one in
/// it (a landscape) or a face it leaves out (a second visitor it missed, a person it
/// lost), the booth paints the photo's own background and every AI backend paints
/// without a mask, and this says why in the log. The faces go to the painters, which
/// then need not look again. An error is the model failing.
pub fn person_in(matter: &Matter, photo: &RgbImage) -> Result<Person, String> {
    let matte = matter.matte(photo).map_err(|e| e.to_string())?;
    let faces = articket_style::faces::detect_every(photo);
    let boxes = faces.iter().map(|f| [f.x, f.y, f.w, f.h]).collect();
    let matte = match articket_style::builtin::backdrop::doubt(&matte, &faces) {
        Some(why) => {
            tracing::info!("the matte is not used ({why}): the photo keeps its own background");
            None
        }
        None => Some(matte),
    };
    Ok(Person {
        matte,
        faces: boxes,
    })
}

/// Intake's face boxes as the painters take them.
pub fn faces_of(boxes: &[[f32; 4]]) -> Vec<Face> {
    boxes
        .iter()
        .map(|&[x, y, w, h]| Face { x, y, w, h })
        .collect()
}

/// The built-in painters' backgrounds, with the operator's picture read.
pub fn backdrops(config: &Config) -> anyhow::Result<Backdrops> {
    let p = &config.painting;
    let image = match &p.background_image {
        None => None,
        Some(path) => {
            let picture = image::open(path)
                .with_context(|| {
                    format!(
                        "config key `painting.background_image`: cannot read {}",
                        path.display()
                    )
                })?
                .into_rgb8();
            Some(Arc::new(picture))
        }
    };
    Ok(Backdrops {
        default: p.background,
        per_painter: p.backgrounds.iter().map(|(k, v)| (*k, *v)).collect(),
        image,
    })
}
