#!/usr/bin/env bash
# The GPU check: run it on any machine with an NVIDIA GPU (prepared for an H200).
#
#   bash benchmarks/gpu_check.sh            # from anywhere; about 4-6 minutes
#
# 1. the CUDA kernel tests WITHOUT the simulator (tests/kernels' cuda half: every kernel
#    against the numpy reference on larger shapes; tests/cuda: the model-level test, and
#    parity with torch's CUDA convolution when torch with CUDA is installed);
# 2. the benchmark: every kernel forward/backward on cpu and cuda, and training
#    throughput of mnist_cnn, resnet20 and vgg16 at batch 128 on the CPU engine
#    (2 threads, as the targets are stated), the CUDA engine, and PyTorch on the GPU
#    (if torch has CUDA here);
# and prints the tables. Everything it prints also goes to gpu_check.log (in $OUT when
# that is set, else in benchmarks/), the JSON to results_gpu_models.json and
# results_gpu_kernels.json next to it. Time limits per stage keep the whole under
# 6 minutes (tests 170 s, models 150 s, kernels 90 s, plus start-up).
#
# Environment: uses $PYTHON, else ./.venv/bin/python, else python3. When numba-cuda is
# not importable it tries `pip install -e .[cuda,dev]` (which needs a network).
# NUMBACNN_GPU_CHECK_BATCH (default 128), NUMBACNN_GPU_CHECK_MODELS (default
# mnist_cnn,resnet20,vgg16) adjust the benchmark.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEST=${OUT:-$ROOT/benchmarks}
mkdir -p "$DEST"
LOG="$DEST/gpu_check.log"
JSON="$DEST/results_gpu.json"
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
START=$(date +%s)
say "== numbacnn gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), python: $PY"

if ! $PY -c "import numba_cuda, numpy, pytest" >/dev/null 2>&1; then
  say "numba-cuda / pytest not importable: trying pip install -e .[cuda,dev]"
  if ! run $PY -m pip install -q -e ".[cuda,dev]"; then
    say "gpu_check: could not install the 'cuda' and 'dev' extras (no network?). Install numba-cuda, numpy, pytest first."
    exit 2
  fi
fi

export NUMBA_ENABLE_CUDASIM=0
run nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
run $PY - <<'EOF'
import numba, numpy
from engine.kernels import cuda
print("numba", numba.__version__, "| numpy", numpy.__version__)
try:
    import numba_cuda; print("numba-cuda", numba_cuda.__version__)
except Exception as e: print("numba-cuda:", e)
try:
    import torch; print("torch", torch.__version__, "| torch CUDA:", torch.cuda.is_available())
except Exception: print("torch: not installed (the torch comparisons are skipped)")
reason = cuda.unusable_reason()
print("CUDA usable:", reason is None, "" if reason is None else reason)
if reason is None:
    cuda.require()
    from engine.kernels.cuda import memory
    print("GPU:", cuda.device_name(), "| caching allocator installed:", memory._installed)
EOF
if ! $PY -c "from engine.kernels import cuda; import sys; sys.exit(cuda.unusable_reason() is not None)"; then
  say "gpu_check: no usable GPU here; nothing to check."
  exit 3
fi

say ""
say "== 1. CUDA kernel tests on the GPU (no simulator)"
run timeout 170 $PY -m pytest -q -x tests/cuda tests/kernels -k cuda -rs
TESTS=$?
if [ $TESTS -ne 0 ] && [ $TESTS -ne 124 ]; then
  say "tests failed (status $TESTS); re-running the last failures with numba's default allocator"
  NUMBACNN_CUDA_ALLOCATOR=default run timeout 60 $PY -m pytest -q --lf tests/cuda tests/kernels -k cuda -rs
fi
say "(tests took $(( $(date +%s) - START )) s so far)"

BATCH=${NUMBACNN_GPU_CHECK_BATCH:-128}
MODELS=${NUMBACNN_GPU_CHECK_MODELS:-mnist_cnn,resnet20,vgg16}
say ""
say "== 2. training throughput at batch $BATCH: CPU engine (2 threads), CUDA engine, PyTorch on the GPU"
NUMBA_NUM_THREADS=2 run timeout 150 $PY -m engine bench --device cpu,cuda --model "$MODELS" \
    --batch-size "$BATCH" --steps 10 --cpu-steps 2 --torch --json "${JSON%.json}_models.json"
MODELS_STATUS=$?

say ""
say "== 3. kernels: forward and backward, CPU (2 threads) vs CUDA"
NUMBA_NUM_THREADS=2 run timeout 90 $PY -m engine bench --device cpu,cuda --ops all --repeats 5 --warmup 2 \
    --json "${JSON%.json}_kernels.json"
KERNELS_STATUS=$?

say ""
say "== done in $(( $(date +%s) - START )) s: tests $TESTS, models $MODELS_STATUS, kernels $KERNELS_STATUS" \
    "(0 = ok, 124 = timed out); log $LOG"
[ $TESTS -eq 0 ] && [ $MODELS_STATUS -eq 0 ] && [ $KERNELS_STATUS -eq 0 ]
