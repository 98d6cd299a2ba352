#!/usr/bin/env bash
# Builds `articket` with the CUDA engine on a machine without a GPU or a CUDA toolkit,
# for a GPU box that has NVIDIA's driver and PyTorch's CUDA 13 libraries but no Rust:
#
#   bench/gpu/build-cuda.sh      writes target/cuda/articket.xz (about 14 MB)
#
# 1. NVIDIA's compiler from PyPI, release 13.0 (driver 580 loads its PTX). nvvm is
#    pinned too: left alone, pip brings nvvm 13.5, whose PTX 9.5 the 13.0 ptxas refuses.
# 2. candle links cuBLAS, cuBLASLt, cuRAND, NVRTC and the runtime at build time: PyPI
#    ships them as lib*.so.13 only, so unversioned links are made for the linker.
# 3. The driver's libcuda.so.1 exists only where a driver is installed: the link uses
#    a stub with the same soname that defines the driver functions cudarc calls (listed
#    from cudarc's own object code). At run time the real driver library is loaded.
# At run time the binary needs LD_LIBRARY_PATH to reach PyTorch's nvidia/* library
# folders; bench/gpu/run.sh sets it from the `nvidia` Python package.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${CUDA_VENV:-target/cuda/venv}
CAP=${CUDA_COMPUTE_CAP:-90}

if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" \
  "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-crt==13.0.88" "nvidia-cuda-cccl==13.0.85" \
  "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.0.35" "nvidia-cuda-nvrtc==13.0.88"
CU=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')

LINK=target/cuda/link
mkdir -p "$LINK"
for l in cublas cublasLt cudart nvrtc; do ln -sf "$CU/lib/lib$l.so.13" "$LINK/lib$l.so"; done
ln -sf "$CU/lib/libcurand.so.10" "$LINK/libcurand.so"

export PATH="$CU/bin:$PATH" CUDA_ROOT="$CU" CUDA_PATH="$CU" CUDA_COMPUTE_CAP="$CAP"
export LIBRARY_PATH="$PWD/$LINK${LIBRARY_PATH:+:$LIBRARY_PATH}" CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR=target/cuda

# The stub needs cudarc's list of driver functions: build cudarc first, read it, then
# build everything.
cargo build --release --features cuda -p articket-engine
nm --undefined-only target/cuda/release/deps/libcudarc-*.rlib 2>/dev/null \
  | awk '$1 == "U" && $2 ~ /^cu[A-Z]/ { print "void " $2 "(void) {}" }' | sort -u > "$LINK/stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$LINK/libcuda.so" "$LINK/stub.c"

cargo build --release --features cuda,bench
# The kernels' PTX makes the binary about 90 MB stripped; it travels as xz (about 14 MB),
# which bench/gpu/run.sh unpacks.
BIN=target/cuda/release/articket
strip -o target/cuda/articket "$BIN"
xz -T0 -9 -f target/cuda/articket
ls -la "$BIN" target/cuda/articket.xz
echo "needs at run time: $(readelf -d "$BIN" | awk '/NEEDED/ { print $5 }' | tr -d '[]' | tr '\n' ' ')"
