//! The kiosk's attract loop: recent paintings of visitors who ticked "show my painting
//! on the booth screen", or, with none, the built-in painters' samples on real
//! public-domain photographs (rendered once, on first use).

use std::sync::Arc;

use articket_style::builtin::{self, BuiltinParams};
use articket_style::Painter;

/// Each painter's sample painting as JPEG.
pub type SamplePaintings = Vec<(Painter, Vec<u8>)>;

/// The four sample paintings, rendered once.
#[derive(Default)]
pub struct Samples(tokio::sync::OnceCell<Arc<SamplePaintings>>);

impl Samples {
    /// The samples, rendering them with `render` the first time.
    pub async fn get<F, E>(&self, render: F) -> Result<Arc<SamplePaintings>, E>
    where
        F: std::future::Future<Output = Result<SamplePaintings, E>>,
    {
        self.0
            .get_or_try_init(|| async { render.await.map(Arc::new) })
            .await
            .cloned()
    }
}

/// A public-domain photograph of a person (docs/samples/README.md says whose and why
/// they may be shown), embedded in the binary.
struct SamplePhoto {
    name: &'static str,
    bytes: &'static [u8],
}

const GRACE_HOPPER: SamplePhoto = SamplePhoto {
    name: "grace_hopper.jpg",
    bytes: include_bytes!("../../../docs/samples/photos/grace_hopper.jpg"),
};
const ASTRONAUT: SamplePhoto = SamplePhoto {
    name: "astronaut.jpg",
    bytes: include_bytes!("../../../docs/samples/photos/astronaut.jpg"),
};
const CAMERAMAN: SamplePhoto = SamplePhoto {
    name: "camera.png",
    bytes: include_bytes!("../../../docs/samples/photos/camera.png"),
};

/// Which photograph each painter shows on the waiting screen: each where it looks best
/// (docs/samples/contact-sheet-photos.png), and the two of Grace Hopper in opposite
/// corners.
fn photo_for(painter: Painter) -> &'static SamplePhoto {
    match painter {
        Painter::Picasso => &GRACE_HOPPER,
        Painter::Renoir => &ASTRONAUT,
        Painter::VanGogh => &CAMERAMAN,
        Painter::Lichtenstein => &GRACE_HOPPER,
    }
}

/// Each painter on a real photograph, at the booth's own settings.
pub fn render_samples(params: &BuiltinParams) -> SamplePaintings {
    Painter::ALL
        .iter()
        .enumerate()
        .map(|(i, &painter)| {
            let photo = photo_for(painter);
            let painting = match image::load_from_memory(photo.bytes) {
                Ok(decoded) => builtin::render(painter, &decoded.into_rgb8(), 7 + i as u64, params),
                // The photographs are part of the binary, checked by a test below; this
                // cannot happen in a build that passed its tests.
                Err(e) => {
                    tracing::error!("sample photo {}: {e}", photo.name);
                    return (painter, Vec::new());
                }
            };
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
            // Encoding into memory cannot fail for an RGB image of this size.
            let _ = painting.write_with_encoder(encoder);
            (painter, jpeg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_painter_paints_a_real_photograph_at_its_size() {
        let samples = render_samples(&BuiltinParams::default());
        assert_eq!(samples.len(), 4);
        for (painter, jpeg) in &samples {
            let photo = image::load_from_memory(photo_for(*painter).bytes).unwrap();
            let painting = image::load_from_memory(jpeg).unwrap();
            assert_eq!(
                (painting.width(), painting.height()),
                (photo.width(), photo.height()),
                "{painter}"
            );
        }
        let photos: std::collections::HashSet<_> =
            Painter::ALL.iter().map(|&p| photo_for(p).name).collect();
        assert_eq!(photos.len(), 3, "all three photographs are used");
    }
}
