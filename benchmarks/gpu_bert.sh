#!/usr/bin/env bash
# BERT-base and a several-input model on the GPU machine (issue 13), each step guarded by its own time limit.
#   bash benchmarks/gpu_bert.sh torch PRECISION   # bert_check.py: torch, torch-cudagraph, torch-compile cells vs by hand
#   bash benchmarks/gpu_bert.sh ort PRECISION     # the same for onnxruntime (needs onnxruntime-gpu in PYTHONPATH)
#   bash benchmarks/gpu_bert.sh multi             # tests/e2e/test_gpu.py's several-input test on every cuda backend
# Results under $OUT/bert-<mode>-<precision>/ (bert-check.md, bert.json, bert-pytest.log).
set -u
mode=$1
precision=${2:-fp16}
out=${OUT:-/tmp/out}
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || true
case $mode in
  torch) backends=torch,torch-cudagraph,torch-compile ;;
  graph) backends=torch-cudagraph ;;
  ort) backends=onnxruntime ;;
  multi)
    timeout 400 python3 -m pytest tests/e2e/test_gpu.py -m gpu -k several -q -s -p no:randomly 2>&1 | tail -25
    exit 0 ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
dir=$out/bert-$mode-$precision
mkdir -p "$dir"
timeout 540 python3 benchmarks/bert_check.py --out "$dir" --precision "$precision" --backends "$backends" \
  --infperf-repeats=1 2>&1 | tail -30
