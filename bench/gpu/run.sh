#!/usr/bin/env bash
# Step 10's GPU check, for a machine with an NVIDIA GPU, PyTorch and diffusers, and no
# Rust and no internet. Run from the repository root with a binary built elsewhere
# (`cargo build --release --features cuda,bench`, see docs/models.md):
#
#   bench/gpu/run.sh [--device cuda|cpu] [--dtype bf16|f16|f32] [--size 512] [--steps 20]
#
# It prints, and writes to $OUT/gpu-bench.txt when OUT is set:
#   1. the parity check against diffusers' f32 outputs in half precision (both fixtures);
#   2. `articket bench sd` on full-size SD 1.5 and SDXL-Turbo models with random weights
#      written by diffusers, 4 painters at 512², 20 steps × 0.6, batched and one by one,
#      beside diffusers timing the same jobs on the same device with the same weights.
# `--device cpu --size 64 --steps 2` proves the script end to end on a CPU (its times
# mean nothing).
set -euo pipefail

DEVICE=cuda DTYPE="" SIZE=512 STEPS=20 ROUNDS=3 ARCHS="sd15 sdxl-turbo"
while (($#)); do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --dtype) DTYPE=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --arch) ARCHS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$DTYPE" ]] || { [[ $DEVICE == cpu ]] && DTYPE=f32 || DTYPE=bf16; }
BIN=${ARTICKET_BIN:-target/cuda/articket.xz}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [[ $BIN == *.xz ]]; then
  xz -dc "$BIN" > "$WORK/articket" && chmod +x "$WORK/articket" && BIN=$WORK/articket
fi
[[ -x $BIN ]] || { echo "no binary at $BIN (set ARTICKET_BIN)" >&2; exit 2; }

if [[ $DEVICE == cuda* ]]; then
  # The CUDA 13 libraries (cuBLAS, cuRAND, NVRTC, the runtime) from PyTorch's pip
  # packages, where the binary's dynamic linker will look for them.
  LIBS=$("$PY" - <<'PY'
import glob, os
import nvidia
dirs = set()
for root in nvidia.__path__:
    for lib in glob.glob(os.path.join(root, "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
PY
)
  export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi

LOG=${OUT:+$OUT/gpu-bench.txt}
say() { if [[ -n "$LOG" ]]; then tee -a "$LOG"; else cat; fi; }

# diffusers for the anchor: installed already, or from wheels carried in
# target/cuda/wheels (`pip download -d target/cuda/wheels diffusers==0.42.1
# transformers==5.24.0` on a machine with the box's Python version). Without it, our
# engine is timed alone on random models built in memory.
if ! "$PY" -c "import diffusers, transformers" 2>/dev/null && [[ -d target/cuda/wheels ]]; then
  "$PY" -m pip install -q --no-index --find-links target/cuda/wheels diffusers transformers || true
fi
ANCHOR=1
"$PY" -c "import diffusers, transformers" 2>/dev/null || ANCHOR=0

echo "== parity with diffusers ($DEVICE, $DTYPE)" | say
for f in sd15 sdxl; do
  "$BIN" bench parity crates/engine/tests/fixtures/parity/$f --device "$DEVICE" --dtype "$DTYPE" 2>&1 | say
done

# Models in half precision on disk (half the writing); the engine converts on load.
SAVE=$DTYPE; [[ $DEVICE == cpu ]] && SAVE=f32
for arch in $ARCHS; do
  if ((!ANCHOR)); then
    echo "== $arch: diffusers is not installed here; our engine alone, random weights" | say
    "$BIN" bench sd --device "$DEVICE" --dtype "$DTYPE" --arch "$arch" --size "$SIZE" \
      --steps "$STEPS" --strength 0.6 --rounds "$ROUNDS" 2>&1 | say
    continue
  fi
  echo "== $arch: writing a full-size random model with diffusers" | say
  "$PY" bench/gpu/random_model.py "$arch" "$WORK/$arch" "$SAVE" 2>&1 | grep -v Warning | tail -1 | say
  "$BIN" bench sd --device "$DEVICE" --dtype "$DTYPE" --model "$WORK/$arch" --size "$SIZE" \
    --steps "$STEPS" --strength 0.6 --rounds "$ROUNDS" --anchor "$PY" 2>&1 | say
  rm -rf "${WORK:?}/$arch"
done
