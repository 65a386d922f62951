#!/bin/bash
# The gate under other processes: bash benchmarks/cpu_contention/gate_under_load.sh LABEL [pytest args]
# (e.g. --infperf-threads=1). One quiet save, then 3 A/A, 1.25x and 1.5x with HOGS processes (default 1) each busy
# DUTY of one core (default 0.5) running: HOGS=2 DUTY=1 on this 2-core VM leaves a cell's thread about two thirds of
# a core, as a hypervisor that gives the VM's cores to other guests part of the time would.
# $1 label, rest: extra pytest args
label=$1; shift
st=${TMPDIR:-/tmp}/gate-under-load/$label; rm -rf $st; mkdir -p $st
cd "$(dirname "$0")/../.."
python3 benchmarks/calibrate_gate.py --baseline-runs 1 --aa-runs 0 --slowdowns '' --storage $st/st --keep $st --label s- -k test_small "$@" 2>&1 | grep -E "^\| s-"
hogs=()
for _ in $(seq "${HOGS:-1}"); do python3 benchmarks/cpu_contention/hog.py "${DUTY:-0.5}" 100000 & hogs+=($!); done
python3 benchmarks/calibrate_gate.py --baseline-runs 0 --aa-runs 3 --slowdowns 1.25,1.5 --storage $st/st --keep $st --label h- -k test_small "$@" 2>&1 | grep -E "^\| (h-|cell|torch|onnx)|A/A sessions"
kill "${hogs[@]}"
