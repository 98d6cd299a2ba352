"""The matting anchor of `articket bench matting`: MODNet's ONNX file run by
onnxruntime on the same photos at the same model sizes. Prints JSON:
{"<photo>": {"<side>": {"1": ms, "2": ms}}}, the median session.run time per thread
count, the input resized by Pillow beforehand (not timed).

    python anchor.py MODEL ROUNDS SIDES PHOTO...   (SIDES: comma-separated)
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def input_size(w, h, side):
    scale = min(side / max(w, h), 1.0)
    fit = lambda v: max(int(round(v * scale / 32.0)), 1) * 32
    return fit(w), fit(h)


def main():
    model, rounds, sides, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    sessions = {}
    for threads in (1, 2):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sessions[threads] = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    out = {}
    for path in photos:
        photo = Image.open(path).convert("RGB")
        out[path] = {}
        for side in (int(s) for s in sides.split(",")):
            small = photo.resize(input_size(photo.width, photo.height, side), Image.Resampling.BICUBIC)
            x = ((np.asarray(small).astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
            out[path][str(side)] = {}
            for threads, session in sessions.items():
                name = session.get_inputs()[0].name
                session.run(None, {name: x})
                times = []
                for _ in range(rounds):
                    t = time.perf_counter()
                    session.run(None, {name: x})
                    times.append((time.perf_counter() - t) * 1e3)
                out[path][str(side)][str(threads)] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
