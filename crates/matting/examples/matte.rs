//! Writes a photo's matte as a grey PNG, to look at:
//! `cargo run --release -p articket-matting --example matte -- MODEL.onnx PHOTO OUT.png [SIDE]`
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, photo, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: matte MODEL.onnx PHOTO OUT.png [SIDE]");
        std::process::exit(2);
    };
    let side = rest
        .first()
        .map_or(articket_matting::DEFAULT_SIDE, |s| s.parse().unwrap());
    let matter = articket_matting::Matter::load(model.as_ref(), side).unwrap();
    let photo = image::open(photo).unwrap().to_rgb8();
    let t = std::time::Instant::now();
    let matte = matter.matte(&photo).unwrap();
    eprintln!("{:?} at side {side}", t.elapsed());
    matte.save(out).unwrap();
}
