#!/usr/bin/env bash
# Runs on the lent GPU machine (device tool): set up wgpu + Vulkan loader from the carried
# .gl/.whl, run the gpu/webgpu tests, then the GPU benchmark. Logs go to $OUT.
# usage: bash benchmarks/gpu_device.sh [tests|quick|full|all] [extra bench args...]
set -u
mode=${1:-all}; shift || true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" / ; done; ldconfig
S=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --target "$S" .whl/*.whl
export PYTHONPATH="$S:$PWD" PYTHONUNBUFFERED=1 XDG_RUNTIME_DIR=/tmp
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import cupy, numpy, scipy; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
if [[ $mode == tests || $mode == all || $mode == quick || $mode == testsfull ]]; then
  python3 -m pytest -q -p no:cacheprovider -m "gpu or webgpu" tests/kernels 2>&1 | tee "$OUT/tests.log"
fi
if [[ $mode == quick || $mode == all ]]; then
  python3 benchmarks/bench_kernels_gpu.py --quick --webgpu --json "$OUT/quick.json" "$@" 2>&1 | tee "$OUT/quick.log"
fi
if [[ $mode == full || $mode == all || $mode == testsfull ]]; then
  python3 benchmarks/bench_kernels_gpu.py --webgpu --json "$OUT/full.json" "$@" 2>&1 | tee "$OUT/full.log"
fi
