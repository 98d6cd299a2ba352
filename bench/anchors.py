"""Anchors for `articket bench intake`: the same job done the ways a Python booth would.

pillow: what the old Articket service did: open, exif_transpose, thumbnail to 512x512,
        save as JPEG quality 85.
vips:   libvips' thumbnail (shrink-on-load, auto-rotate), then jpegsave_buffer, Q 85.

oil:    OpenCV's cv2.xphoto.oilPainting(img, 7, 1), the painter benchmark's anchor.
stylization: OpenCV's cv2.stylization(img) with its default parameters.

Modes (all output is one JSON object on stdout):
  time   TOOL REPS FILE...  -> {"ms": [per-run milliseconds, files in order, REPS rounds]}
  memory TOOL FILE          -> {"peak_bytes": N}  extra peak RSS of one run in this process
"""

import io
import json
import sys
import time


def pillow_job():
    from PIL import Image, ImageOps

    def run(data):
        im = Image.open(io.BytesIO(data))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((512, 512))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85)
        return out.getvalue()

    return run


def vips_job():
    import pyvips

    # The operation cache would hand back the previous result for the same buffer.
    pyvips.cache_set_max(0)

    def run(data):
        im = pyvips.Image.thumbnail_buffer(data, 512)
        return im.jpegsave_buffer(Q=85)

    return run


def opencv_job(name):
    import cv2
    import numpy as np

    def decode(data):
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    if name == "oil":
        return lambda img: cv2.xphoto.oilPainting(img, 7, 1), decode
    return lambda img: cv2.stylization(img), decode


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field + " missing")


def main():
    mode, tool = sys.argv[1], sys.argv[2]
    if mode == "paint":
        # paint TOOL REPS FILE...: times one OpenCV filter on decoded images.
        job, decode = opencv_job(tool)
        reps = int(sys.argv[3])
        images = [decode(open(p, "rb").read()) for p in sys.argv[4:]]
        job(images[0])
        ms = []
        for _ in range(reps):
            for img in images:
                t = time.perf_counter()
                job(img)
                ms.append((time.perf_counter() - t) * 1000.0)
        print(json.dumps({"ms": ms}))
        return
    job = {"pillow": pillow_job, "vips": vips_job}[tool]()
    if mode == "time":
        reps = int(sys.argv[3])
        files = [open(p, "rb").read() for p in sys.argv[4:]]
        job(files[0])  # load libraries, warm caches
        ms = []
        for _ in range(reps):
            for data in files:
                t = time.perf_counter()
                out = job(data)
                ms.append((time.perf_counter() - t) * 1000.0)
                assert out[:2] == b"\xff\xd8"
        print(json.dumps({"ms": ms}))
    elif mode == "memory":
        data = open(sys.argv[3], "rb").read()
        # Import and initialise the library on a tiny image first, so only the job counts.
        from PIL import Image

        tiny = io.BytesIO()
        Image.new("RGB", (8, 8)).save(tiny, "JPEG")
        job(tiny.getvalue())
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
        base = status_kb("VmRSS")
        job(data)
        print(json.dumps({"peak_bytes": (status_kb("VmHWM") - base) * 1024}))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
