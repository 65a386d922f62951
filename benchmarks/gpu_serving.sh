#!/usr/bin/env bash
# Issue 14 on the GPU machine: seed 001 through a real Triton server (benchmarks/seed001), and the in-process
# concurrency figure of the same model and batch to compare it with. Run from the repository root there:
#   bash benchmarks/gpu_serving.sh install   # the wheels get-wheels.sh carried to /tmp/wh (nvidia-pytriton,
#                                            # tritonclient, numpy 1.26, ...) into the interpreter's own environment
#                                            # (PyTriton cannot find its bundled libraries from a --target folder);
#                                            # numpy 1.26 there breaks transformers: run BERT cells before this
#   bash benchmarks/gpu_serving.sh run       # in-process cells (b1/b8, 1 and 8 concurrent users), then seed 001
#   bash benchmarks/gpu_serving.sh ort       # seed 001's onnxruntime sweep only (one CUDA session per batch bucket)
# onnxruntime-gpu is expected in /tmp/site (see ../shared/device/get-onnxruntime-gpu.sh).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/infperf-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
start=$(date +%s)
case "${1:-run}" in
install)
  (cd /tmp/wh && for p in *.part00; do [ -e "$p" ] || continue; cat "${p%.part00}".part* > "${p%.part00}" \
    && rm "${p%.part00}".part*; done)
  python3 -m pip install -q --no-index --no-deps --break-system-packages /tmp/wh/*.whl 2>&1 | tail -3
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || echo "pip -e . failed"
  python3 -c "import numpy, pytriton, tritonclient, onnxruntime as o; print('numpy', numpy.__version__, 'ort', o.__version__, o.get_available_providers())"
  ;;
run)
  timeout 150 python3 -m pytest perf_tests/test_resnet.py -p no:randomly -q --no-header \
    --infperf-backends=torch-cudagraph,onnxruntime --infperf-precisions=fp16 --infperf-batches=1,8 \
    --infperf-concurrency=1,8 --infperf-repeats=1 --benchmark-json="$OUT/inproc.json" > "$OUT/inproc.log" 2>&1
  echo "in-process: exit $?, $(( $(date +%s) - start )) s"
  grep -E "^\| " "$OUT/inproc.log" | head -20
  t0=$(date +%s)
  timeout "${2:-420}" python3 -m pytest benchmarks/seed001 -p no:randomly -q --no-header \
    --benchmark-json="$OUT/seed001.json" --infperf-plot="$OUT/plots" --infperf-report="$OUT/seed001.md" \
    > "$OUT/seed001.log" 2>&1
  echo "seed 001: exit $?, $(( $(date +%s) - t0 )) s"
  grep -E "^\| (model|resnet18)" "$OUT/seed001.log" | cut -c1-220
  grep -E "passed|failed|error" "$OUT/seed001.log" | tail -3
  [ -d "$OUT/plots" ] && tar czf "$OUT/plots.tgz" -C "$OUT" plots && rm -rf "$OUT/plots"
  ;;
ort)
  timeout "${2:-420}" python3 -m pytest benchmarks/seed001 -k test_onnxruntime -p no:randomly -q --no-header \
    --benchmark-json="$OUT/seed001-ort.json" --infperf-report="$OUT/seed001-ort.md" > "$OUT/seed001-ort.log" 2>&1
  echo "seed 001, onnxruntime: exit $?, $(( $(date +%s) - start )) s"
  grep -E "^\| (model|resnet18)" "$OUT/seed001-ort.log" | cut -c1-220
  grep -E "passed|failed|error" "$OUT/seed001-ort.log" | tail -3
  ;;
esac
echo "wall $(( $(date +%s) - start )) s"
