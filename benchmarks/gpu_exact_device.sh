#!/bin/bash
# Runs on the lent GPU machine (device tool), issue 17: exact π on CUDA and WebGPU.
# Carry .gl and .whl (shared GPU notes: Vulkan loader debs; wheels wgpu 0.32.0,
# rendercanvas 2.7.0, cffi 2.0.0, pycparser 3.0, structlog, blake3 for cp312), then
# `bash benchmarks/gpu_exact_device.sh`: CUDA/WebGPU tests, then bench_exact_gpu.py;
# everything is teed to $OUT/log.txt, the numbers to $OUT/exact_gpu.json.
set -o pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
S=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$S" .whl/*.whl || echo PIP-INSTALL-FAILED
export PYTHONPATH="$S:$PWD:$PWD/benchmarks"
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
date -u; nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu --format=csv
python3 -c "import sys,numpy,scipy,cupy,pytest,hypothesis,structlog,blake3,wgpu; print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, 'cupy', cupy.__version__, 'pytest', pytest.__version__, 'hypothesis', hypothesis.__version__, 'wgpu', wgpu.__version__); a=wgpu.gpu.request_adapter_sync(power_preference='high-performance'); print('adapter', a.info['device'], a.info['backend_type'])" || echo IMPORT-CHECK-FAILED
echo "=== pytest"; date -u
timeout 200 python3 -m pytest -q --noconftest -p no:cacheprovider -rA tests/kernels/test_exact_gpu.py tests/kernels/test_exact_webgpu.py tests/kernels/test_gpu.py || echo "PYTEST rc=$?"
echo "=== bench"; date -u
timeout 230 python3 benchmarks/bench_exact_gpu.py --json "$OUT/exact_gpu.json" || { echo "BENCH rc=$?"; timeout 30 python3 benchmarks/bench_exact_gpu.py --skip-performance --json "$OUT/agree.json" || echo "AGREE rc=$?"; }
date -u; nvidia-smi --query-gpu=memory.used,temperature.gpu --format=csv
} 2>&1 | tee "$OUT/log.txt"
