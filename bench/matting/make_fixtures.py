"""Writes the matting parity fixtures: for each real photograph, the picture at the
booth's model size (resized here with Pillow, saved losslessly, so both runtimes see the
same numbers) and onnxruntime's alpha for it as a 16-bit PNG.

    python bench/matting/make_fixtures.py target/test-models/modnet.onnx

The model size follows crates/matting's `input_size` at `DEFAULT_SIDE`.
"""
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

SIDE = 320
PHOTOS = ["grace_hopper.jpg", "astronaut.jpg", "full_length.jpg"]
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "crates", "matting", "tests", "fixtures")


def input_size(w, h, side):
    scale = min(side / max(w, h), 1.0)
    fit = lambda v: max(int(round(v * scale / 32.0)), 1) * 32
    return fit(w), fit(h)


def main():
    model = sys.argv[1]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    os.makedirs(OUT, exist_ok=True)
    for name in PHOTOS:
        path = os.path.join(ROOT, "docs", "samples", "photos", name)
        if not os.path.exists(path):
            continue
        photo = Image.open(path).convert("RGB")
        size = input_size(photo.width, photo.height, SIDE)
        small = photo.resize(size, Image.Resampling.BICUBIC)
        stem = os.path.splitext(name)[0]
        small.save(os.path.join(OUT, f"{stem}-input.png"))
        x = ((np.asarray(small).astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        alpha = session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]
        alpha16 = np.round(np.clip(alpha, 0, 1) * 65535).astype(np.uint16)
        Image.fromarray(alpha16).save(os.path.join(OUT, f"{stem}-alpha.png"))
        print(name, size, "mean alpha", float(alpha.mean()))


if __name__ == "__main__":
    main()
