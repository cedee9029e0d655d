#!/usr/bin/env bash
# Every GPU measurement of the book in one call on a lent GPU machine (about 8 minutes), for a
# machine without a network whose Python has PyTorch, numba and SciPy but no Jupyter.
#
# Here, once:      make gpu-wheels                      (the notebook stack and pytest as wheels in .whl/)
# There, from the repository root, with .whl/ carried along:
#                  OUT=/some/empty/dir tools/gpu_session.sh
#
# In order of what matters most, each under its own time limit (a step that runs out is cut
# short and the next one starts; its log keeps what it printed):
#   1. tests/: the CUDA-only tests (sync counts with torch.cuda.set_sync_debug_mode, CUDA graphs,
#      CUDA against the CPU);
#   2. benchmarks/bench_bignets.py: Yin et al.'s networks, batched against one at a time,
#      model-images per second (float32, then bf16 + channels-last); bench_steps.py: one CGD
#      run's step, CUDA graph against op by op;
#   3. tools/gpu_check.py --cpu-baseline: every chapter with device="cuda", every printed number
#      against the stored one, and each chapter's CUDA time against a CPU run on this machine;
#   4. bench_train.py and bench_montecarlo.py, device comparisons only.
# Logs go to $OUT/<step>.log, the exit status and seconds of each step to $OUT/summary.txt.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-session}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
: > "$OUT/summary.txt"

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, log it, record rc and seconds
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    echo "$name: rc=$rc, $(( $(date +%s) - start )) s (limit $limit s)" | tee -a "$OUT/summary.txt"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))" \
    > "$OUT/torch.txt" 2>&1
if [ -d .whl ]; then
    step pip 120 $PY -m pip install -q --no-index --find-links .whl papermill ipykernel myst-nb plotly aiohttp pytest
fi
step tests 120 $PY -m pytest -q -p no:cacheprovider -p no:nbval -o addopts=-ra \
    tests/test_sync_free.py tests/test_device.py -k cuda
step bench_bignets 150 $PY benchmarks/bench_bignets.py --device cuda
step bench_steps 30 $PY benchmarks/bench_steps.py --device cuda
step gpu_check 300 $PY tools/gpu_check.py --cpu-baseline --bench off --out "$OUT/gpu-runs"
step bench_train 45 $PY benchmarks/bench_train.py --device cuda --device-only
step bench_montecarlo 45 $PY benchmarks/bench_montecarlo.py --device cuda --device-only
