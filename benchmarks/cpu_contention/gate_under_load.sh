#!/bin/bash
# The gate under another process busy 50 % on one core: bash benchmarks/cpu_contention/gate_under_load.sh LABEL [pytest args]
# (e.g. --infperf-threads=1). One quiet save, then 3 A/A, 1.25x and 1.5x with the busy process running.
# $1 label, rest: extra pytest args
label=$1; shift
st=${TMPDIR:-/tmp}/gate-under-load/$label; rm -rf $st; mkdir -p $st
cd "$(dirname "$0")/../.."
python3 benchmarks/calibrate_gate.py --baseline-runs 1 --aa-runs 0 --slowdowns '' --storage $st/st --keep $st --label s- -k test_small "$@" 2>&1 | grep -E "^\| s-"
python3 benchmarks/cpu_contention/hog.py 0.5 100000 & hog=$!
python3 benchmarks/calibrate_gate.py --baseline-runs 0 --aa-runs 3 --slowdowns 1.25,1.5 --storage $st/st --keep $st --label h- -k test_small "$@" 2>&1 | grep -E "^\| (h-|cell|torch|onnx)|A/A sessions"
kill $hog
