//! Resizing with `fast_image_resize` (SIMD convolution): the face's resizes and the
//! detector's shrink are a visible share of a painter's time with `image`'s own, which
//! stays as the fallback.

use fast_image_resize::images::{Image, ImageRef};
pub(crate) use fast_image_resize::FilterType;
use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{ImageBuffer, Pixel};

/// `img` resized to `w`×`h` with `filter` (grey, RGB or RGBA, 8 bits).
pub(crate) fn resize<P>(
    img: &ImageBuffer<P, Vec<u8>>,
    w: u32,
    h: u32,
    filter: FilterType,
) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let fallback = || image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
    let pixel = match P::CHANNEL_COUNT {
        1 => PixelType::U8,
        3 => PixelType::U8x3,
        4 => PixelType::U8x4,
        _ => return fallback(),
    };
    let Ok(src) = ImageRef::new(img.width(), img.height(), img.as_raw(), pixel) else {
        return fallback();
    };
    let mut dst = Image::new(w, h, pixel);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    match Resizer::new().resize(&src, &mut dst, &options) {
        Ok(()) => ImageBuffer::from_raw(w, h, dst.into_vec()).unwrap_or_else(fallback),
        Err(_) => fallback(),
    }
}
