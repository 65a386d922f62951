#!/usr/bin/env bash
# Verification on the GPU machine (see ../shared/device/README.md). Run from the repository root there:
#   bash benchmarks/gpu_verify.sh tests|suite|noise|features|limits|xdist
# Writes logs and results under $OUT and prints a short table last.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/infperf-out}
mkdir -p "$OUT" "$OUT/report" "$OUT/limits" "$OUT/xdist" "$OUT/final"
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
features)
  # GPU tests, a report with plots (int8 included), concurrent users, memory sampler on vs off
  python3 -m pytest tests -m gpu -q -s -p no:cacheprovider > "$OUT/gpu-tests.log" 2>&1
  echo "gpu tests: exit $? $(tail -1 "$OUT/gpu-tests.log")"
  timeout 200 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly \
    --infperf-backends=torch,torch-cudagraph,onnxruntime --infperf-precisions=fp32,fp16,int8 \
    --infperf-batches=1,16,64 --infperf-reference=torch-cuda-fp32-b1 --benchmark-json="$OUT/report/suite.json" \
    --infperf-report="$OUT/report/report.md" --infperf-plot="$OUT/report/plots" > "$OUT/report/suite.log" 2>&1
  echo "report suite: exit $?"
  timeout 150 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly \
    --infperf-backends=torch,torch-cudagraph,onnxruntime --infperf-precisions=fp16 --infperf-batches=1,16 \
    --infperf-concurrency=1,2,4,8 --benchmark-max-time=0.5 --benchmark-json="$OUT/report/concurrency.json" \
    --infperf-report="$OUT/report/concurrency.md" > "$OUT/report/concurrency.log" 2>&1
  echo "concurrency: exit $?"
  timeout 170 python3 benchmarks/sampler_overhead.py --repeats 2 --infperf-devices=cuda --infperf-precisions=fp16 \
    --infperf-backends=torch-cudagraph,torch,onnxruntime --infperf-batches=1,64 \
    --out "$OUT/report/sampler-overhead.md" > "$OUT/report/sampler-overhead.log" 2>&1
  echo "sampler overhead: exit $?"
  tar czf "$OUT/features.tgz" -C "$OUT" report gpu-tests.log
  grep -A40 "infperf concurrent users" "$OUT/report/concurrency.log" | head -30
  tail -8 "$OUT/report/sampler-overhead.log"
  grep -E "recommended|passed|failed" "$OUT/report/suite.log" | tail -4
  ;;
final)
  # the report with plots after the release fixes, the sampler check with more repeats, seed 002's full table
  timeout 200 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly \
    --infperf-backends=torch,torch-cudagraph,onnxruntime,onnxruntime-cudagraph --infperf-precisions=fp32,fp16,int8 \
    --infperf-batches=1,16,64 --infperf-reference=torch-cuda-fp32-b1 --benchmark-json="$OUT/final/suite.json" \
    --infperf-report="$OUT/final/report.md" --infperf-plot="$OUT/final/plots" > "$OUT/final/suite.log" 2>&1
  echo "report suite: exit $?"
  timeout 150 python3 benchmarks/sampler_overhead.py --repeats 4 --infperf-devices=cuda --infperf-precisions=fp16 \
    --infperf-backends=torch-cudagraph,onnxruntime --infperf-batches=1,64 \
    --out "$OUT/final/sampler-overhead.md" > "$OUT/final/sampler-overhead.log" 2>&1
  echo "sampler overhead: exit $?"
  timeout 230 python3 -m pytest perf_tests -q -p no:randomly --infperf-preset=seed002 \
    --infperf-reference=torch-cpu-fp32-b16-3x224x224 --benchmark-json="$OUT/final/seed002.json" \
    --infperf-report="$OUT/final/seed002.md" > "$OUT/final/seed002.log" 2>&1
  echo "seed002: exit $?"
  tar czf "$OUT/final.tgz" -C "$OUT" final
  tail -8 "$OUT/final/sampler-overhead.log"
  grep -E "recommended|passed|failed" "$OUT/final/suite.log" "$OUT/final/seed002.log" | tail -6
  grep -E "held after|WRONG" "$OUT/final/suite.log" | head -5
  ;;
recheck)
  timeout 200 python3 benchmarks/sampler_overhead.py --repeats 3 --infperf-devices=cuda --infperf-precisions=fp16 \
    --infperf-backends=torch-cudagraph,onnxruntime --infperf-batches=1,64 \
    --out "$OUT/final/sampler-overhead.md" > "$OUT/final/sampler-overhead.log" 2>&1
  echo "sampler overhead: exit $?"
  timeout 200 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly \
    --infperf-backends=torch,torch-cudagraph,onnxruntime,onnxruntime-cudagraph --infperf-precisions=fp32,fp16,int8 \
    --infperf-batches=1,16,64 --infperf-reference=torch-cuda-fp32-b1 --benchmark-json="$OUT/final/suite.json" \
    --infperf-report="$OUT/final/report.md" --infperf-plot="$OUT/final/plots" > "$OUT/final/suite.log" 2>&1
  echo "report suite: exit $?"
  tar czf "$OUT/final.tgz" -C "$OUT" final
  tail -8 "$OUT/final/sampler-overhead.log"
  grep -E "recommended|passed|failed|held after" "$OUT/final/suite.log" | tail -8
  ;;
limits)
  # the largest batch that runs (fp16, fp32), then an OOM in a normal cell as the user sees it
  timeout 400 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly --infperf-backends=torch \
    --infperf-precisions=fp16,fp32 --infperf-max-batch=65536 --infperf-timeout=120 \
    --infperf-report="$OUT/limits/max-batch.md" > "$OUT/limits/max-batch.log" 2>&1
  echo "max batch: exit $?"
  timeout 120 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly -rs --infperf-backends=torch \
    --infperf-precisions=fp32 --infperf-batches=32768 --benchmark-json="$OUT/limits/oom.json" \
    > "$OUT/limits/oom.log" 2>&1
  echo "oom cell: exit $?"
  timeout 100 python3 -m pytest perf_tests/test_resnet.py -q -p no:randomly \
    --infperf-backends=torch,torch-cudagraph --infperf-precisions=fp16 --infperf-batches=1,16 \
    --infperf-concurrency=1,2,4,8 --benchmark-max-time=0.5 --benchmark-json="$OUT/limits/concurrency-torch.json" \
    --infperf-report="$OUT/limits/concurrency-torch.md" > "$OUT/limits/concurrency-torch.log" 2>&1
  echo "torch concurrency: exit $?"
  grep -A20 "infperf concurrent users" "$OUT/limits/concurrency-torch.log" | head -20
  tar czf "$OUT/limits.tgz" -C "$OUT" limits
  grep -A6 "largest batch that runs" "$OUT/limits/max-batch.log"
  tail -6 "$OUT/limits/oom.log"
  ;;
xdist)
  # one worker per GPU vs one process, same matrix: wall time and per-cell medians
  args=(perf_tests/test_resnet.py -q -p no:randomly --infperf-backends=torch,torch-cudagraph
        --infperf-precisions=fp16,fp32 --infperf-batches=1,16,64,128)
  python3 -m pytest "${args[@]}" --collect-only -q > /dev/null 2>&1  # warm imports and caches once
  start=$(date +%s)
  python3 -m pytest "${args[@]}" --benchmark-json="$OUT/xdist/one.json" > "$OUT/xdist/one.log" 2>&1
  echo "1 process: exit $? wall $(( $(date +%s) - start )) s"
  start=$(date +%s)
  python3 -m pytest "${args[@]}" -p xdist -n auto --benchmark-json="$OUT/xdist/two.json" > "$OUT/xdist/two.log" 2>&1
  echo "-n auto: exit $? wall $(( $(date +%s) - start )) s"
  tar czf "$OUT/xdist.tgz" -C "$OUT" xdist
  python3 - "$OUT/xdist/one.json" "$OUT/xdist/two.json" <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
a = {b["param"]: b["stats"]["median"] for b in one["benchmarks"]}
b = {x["param"]: x["stats"]["median"] for x in two["benchmarks"]}
print(f"{'cell':34} {'1 proc ms':>10} {'-n 2 ms':>10} {'ratio':>7}")
for cell in sorted(a):
    if cell in b:
        print(f"{cell:34} {a[cell]*1e3:10.4f} {b[cell]*1e3:10.4f} {b[cell]/a[cell]:7.3f}")
print("workers:", two.get("infperf", {}).get("xdist_workers"))
PY
  grep "pytest-xdist" "$OUT/xdist/two.log"
  ;;
esac
