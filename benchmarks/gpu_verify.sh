#!/usr/bin/env bash
# Verification on the GPU machine (see ../shared/device/README.md). Run from the repository root there:
#   bash benchmarks/gpu_verify.sh tests|suite|noise
# Writes logs and results under $OUT and prints a short table last.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/infperf-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
# register the plugin for every pytest process (pytester's inner runs too), without relying on an install
export PYTEST_PLUGINS=pytest_infperf.plugin
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv

case "${1:-tests}" in
tests)
  # the plugin's whole test suite, GPU tests included (-s prints their numbers)
  python3 -m pytest tests -q -s -p no:cacheprovider -x 2>&1 | tee "$OUT/tests.log" | grep -E "plugin|ratio|eager b1|IO binding|passed|failed|skipped|Error" | tail -25
  python3 benchmarks/overhead.py --json "$OUT/overhead.json" 2>&1 | tee "$OUT/overhead.log"
  python3 benchmarks/overhead.py --backend torch-cudagraph --batches 1,64 2>&1 | tee -a "$OUT/overhead.log"
  ;;
suite)
  # the default GPU suite twice: cold caches (export, inductor, cudnn), then warm; the second run's wall time counts
  for run in cold warm; do
    start=$(date +%s)
    python3 -m pytest perf_tests -q -p no:randomly --benchmark-json="$OUT/suite-$run.json" \
      --infperf-report="$OUT/suite-$run.md" --infperf-reference=torch-cuda-fp32-b1 > "$OUT/suite-$run.log" 2>&1
    echo "suite $run: exit $? wall $(( $(date +%s) - start )) s"
  done
  tail -45 "$OUT/suite-warm.log"
  ;;
noise)
  # run-to-run noise of the median over 6 fresh processes, A/A false alarms and injected slowdowns on the GPU
  python3 benchmarks/calibrate_gate.py --baseline-runs 3 --aa-runs 3 --slowdowns 1.25,2 \
    --out "$OUT/gate-calibration-gpu.md" --infperf-devices=cuda --infperf-precisions=fp16 \
    --infperf-backends=torch,torch-cudagraph,onnxruntime --infperf-batches=1,16,64,128 2>&1 | tail -20
  ;;
esac
