//! The kiosk's attract loop: recent paintings of visitors who ticked "show my painting
//! on the booth screen", or, with none, the built-in painters' samples on the drawn
//! portraits (rendered once, on first use).

use std::sync::Arc;

use articket_style::builtin::{self, BuiltinParams};
use articket_style::{samples, Painter};

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

/// Each painter on one of the drawn sample portraits, at the booth's own settings.
pub fn render_samples(params: &BuiltinParams) -> SamplePaintings {
    Painter::ALL
        .iter()
        .enumerate()
        .map(|(i, &painter)| {
            let look = samples::LOOKS[i % samples::LOOKS.len()];
            let photo = samples::portrait(384, 512, look);
            let painting = builtin::render(painter, &photo, 7 + i as u64, params);
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
            // Encoding into memory cannot fail for an RGB image of this size.
            let _ = painting.write_with_encoder(encoder);
            (painter, jpeg)
        })
        .collect()
}
