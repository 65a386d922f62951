#!/usr/bin/env bash
# The gate on the GPU machine (issue 11): A/A compares of the default GPU suite after one save, and injected
# slowdowns of a device-bound cell at the power cap and of a launch-bound cell. Run from the repository root there:
#   bash benchmarks/gpu_gate.sh aa SECONDS [BASELINE.json]  # default suite: one save (or the given one), then A/A
#                                                            # compares while SECONDS allow
#   bash benchmarks/gpu_gate.sh warm SECONDS                 # default suite: --benchmark-disable to fill the
#                                                            # export/inductor caches, one timed save, then A/As
#                                                            # (AAARGS=--infperf-threshold=3: each A/A at 3 %)
#   bash benchmarks/gpu_gate.sh fill SECONDS                 # only that warm-up (then SKIPWARM=1 ... warm)
#   FIRST=N bash benchmarks/gpu_gate.sh more SECONDS         # more default A/As against that save, labelled wN-...
#   bash benchmarks/gpu_gate.sh chain                        # launch chain: save, A/A, 1.25x (host-normalised)
#   bash benchmarks/gpu_gate.sh detect                       # conv stack and launch chain: A/A, injected slowdowns
#   bash benchmarks/gpu_gate.sh host                         # launch-bound cells with the host probe: save, 3 A/A;
#                                                            # launch chain save, A/A, 1.25x
#   bash benchmarks/gpu_gate.sh cap                          # GEMM stack at the power cap: A/A, injected slowdowns
#   bash benchmarks/gpu_gate.sh cap3                         # the same at --infperf-threshold=3: save, A/A, 1.05x
#   CAPSLOW=1.2 bash benchmarks/gpu_gate.sh gemm             # GEMM stack at the power cap, default settings only:
#                                                            # save, A/A, the CAPSLOW slowdowns
#   bash benchmarks/gpu_gate.sh conv3                        # conv stack (steady clock) at --infperf-threshold=3:
#                                                            # save, A/A, 1.05x
# Each session's output, JSON and table land in $OUT; baselines are kept under /tmp/infperf-gate while warm.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/infperf-out}
mkdir -p "$OUT/json"
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || echo "pip install -e . failed"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit --format=csv
keep=/tmp/infperf-gate
start=$(date +%s)
cal() { python3 benchmarks/calibrate_gate.py --keep "$OUT/json" "$@" 2>&1 | grep -E "^\| |regression:|exited|time: "; }
# nvidia-smi's SM clock, power and clock-event reasons every 0.5 s into FILE, in the background (its pid in $smi)
smi_log() { nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 > "$1" & smi=$!; }
# A/A compares of the default suite against the baselines in STORAGE, labelled PREFIX1-, PREFIX2-, ... from FIRST on,
# while the call's BUDGET (s) leaves room for one more session (PER seconds)
aa_while_budget() {  # BUDGET PER STORAGE PREFIX FIRST
  local i=$5
  while [ $(( $(date +%s) - start + $2 )) -lt "$1" ]; do
    timeout $(( $1 - ($(date +%s) - start) )) bash -c "$(declare -f cal); OUT=$OUT cal --suite perf_tests \
      --baseline-runs 0 --aa-runs 1 --slowdowns '' --storage $3 --label $4$i- ${AAARGS:+--aa-args=$AAARGS}"
    i=$((i + 1))
  done
}
case "${1:-aa}" in
aa)
  budget=${2:-560}
  fp=$(python3 -c "from pytest_infperf import fingerprint; print(fingerprint.collect({}).key)")
  if [ -n "${3:-}" ] && [ ! -d "$keep/suite" ]; then
    have=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['machine_info']['infperf']['fingerprint'])" "$3")
    echo "fingerprint here $fp, of $3: $have"
    if [ "$fp" = "$have" ]; then mkdir -p "$keep/suite/$fp" && cp "$3" "$keep/suite/$fp/0001_cal.json"; fi
  fi
  if [ ! -d "$keep/suite/$fp" ]; then
    timeout 300 bash -c "$(declare -f cal); cal --suite perf_tests --baseline-runs 1 --aa-runs 0 --slowdowns '' --storage $keep/suite --label s-"
  fi
  aa_while_budget "$budget" "${PER:-200}" "$keep/suite" a 1
  ;;
warm)
  budget=${2:-560}
  t0=$(date +%s)
  # the caches (ONNX exports, inductor's FX graph cache) filled by loading and running each cell once, unmeasured
  [ -n "${SKIPWARM:-}" ] || timeout 300 python3 -m pytest perf_tests -q --no-header -p no:randomly \
    --benchmark-disable > "$OUT/warmup.log" 2>&1
  echo "warm-up (--benchmark-disable: caches only, nothing measured or saved): exit $?, $(( $(date +%s) - t0 )) s"
  cal --suite perf_tests --baseline-runs 1 --aa-runs 0 --slowdowns '' --storage $keep/warm --label w-
  aa_while_budget "$budget" "${PER:-180}" "$keep/warm" w "${FIRST:-1}"
  ;;
fill)  # only the warm-up of `warm` (caches filled, nothing measured), for a later `SKIPWARM=1 ... warm` call
  t0=$(date +%s)
  timeout "${2:-540}" python3 -m pytest perf_tests -q --no-header -p no:randomly --benchmark-disable \
    > "$OUT/warmup.log" 2>&1
  echo "warm-up (--benchmark-disable): exit $?, $(( $(date +%s) - t0 )) s"; tail -5 "$OUT/warmup.log"
  ;;
more)  # more A/A compares against the warm save of an earlier call on the same (still warm) machine
  [ -d "$keep/warm" ] || { echo "no saved baseline under $keep/warm: the machine was given back"; exit 2; }
  aa_while_budget "${2:-560}" "${PER:-180}" "$keep/warm" w "${FIRST:-1}"
  ;;
host)
  cal --suite perf_tests --infperf-backends=torch --infperf-batches=1,16 --aa-runs ${AA:-3} --slowdowns '' \
    --storage "$keep/host" --label host- --out "$OUT/host-aa.md"
  cal -k test_launch_chain --infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 \
    --infperf-batches=1 --aa-runs 1 --slowdowns 1.25 --storage "$keep/chainh" --label chainh- \
    --out "$OUT/detect-chain-host.md"
  ;;
chain)
  cal -k test_launch_chain --infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 \
    --infperf-batches=1 --aa-runs 1 --slowdowns 1.25 --storage "$keep/chainb" --label chainb- \
    --out "$OUT/detect-chain-block.md"
  ;;
cap)
  common="--infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 --infperf-batches=64"
  smi_log "$OUT/json/smi-cap.csv"
  cal -k test_gemm_stack $common --aa-runs 1 --slowdowns ${CAPSLOW:-1.15,1.2} --storage "$keep/gemm" --label gemm- \
    --out "$OUT/detect-gemm.md"
  cal -k test_gemm_stack $common --baseline-runs 0 --aa-runs 1 --slowdowns 1.05 --storage "$keep/gemm" \
    --label gemm3- --out "$OUT/detect-gemm-threshold3.md" --infperf-threshold=3
  kill $smi
  python3 - "$OUT/json/smi-cap.csv" <<'PY'
import sys
rows = [line.split(", ") for line in open(sys.argv[1]).read().splitlines()[1:]]
try:
    busy = [r for r in rows if len(r) == 3 and float(r[1].split()[0]) > 200]
    capped = [r for r in busy if int(r[2], 16) & 0x4]
except ValueError as exc:
    sys.exit(f"nvidia-smi samples unreadable ({exc}): {rows[:2]}")
print(f"nvidia-smi every 0.5 s: {len(rows)} samples, {len(busy)} above 200 W, {len(capped)} of those with sw_power_cap;"
      f" max power {max((float(r[1].split()[0]) for r in busy), default=0):.0f} W,"
      f" SM clock {min((r[0] for r in busy), default='-')} .. {max((r[0] for r in busy), default='-')}")
PY
  ;;
cap3)  # GEMM stack at the power cap, at --infperf-threshold=3: save, A/A, 1.05x
  smi_log "$OUT/json/smi-cap.csv"
  cal -k test_gemm_stack --infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 \
    --infperf-batches=64 --aa-runs 1 --aa-args=--infperf-threshold=3 --slowdowns 1.05 \
    --slowdown-args=--infperf-threshold=3 --storage "$keep/gemm3" --label gemm3- --out "$OUT/detect-gemm-threshold3.md"
  kill $smi
  ;;
gemm)  # GEMM stack at the power cap, default settings: save, A/A, the CAPSLOW slowdowns
  smi_log "$OUT/json/smi-gemm.csv"
  cal -k test_gemm_stack --infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 \
    --infperf-batches=64 --aa-runs 1 --slowdowns ${CAPSLOW:-1.2} --storage "$keep/gemmd" --label gemmd- \
    --out "$OUT/detect-gemm-default.md"
  kill $smi
  ;;
conv3)  # conv stack (device-bound, steady clock) at --infperf-threshold=3: save, A/A, 1.05x
  cal -k "test_conv_stack and not wide" --infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16 \
    --infperf-batches=64 --aa-runs 1 --aa-args=--infperf-threshold=3 --slowdowns 1.05 \
    --slowdown-args=--infperf-threshold=3 --storage "$keep/conv3" --label conv3- --out "$OUT/detect-conv-threshold3.md"
  ;;
detect)
  common="--infperf-devices=cuda --infperf-backends=torch --infperf-precisions=fp16"
  cal -k "test_conv_stack and not wide" $common --infperf-batches=64 --aa-runs 1 --slowdowns 1.15,1.25 --storage "$keep/conv" \
    --label conv- --out "$OUT/detect-conv.md"
  cal -k "test_conv_stack and not wide" $common --infperf-batches=64 --baseline-runs 0 --aa-runs 1 --slowdowns 1.05 \
    --storage "$keep/conv" --label conv3- --out "$OUT/detect-conv-threshold3.md" --infperf-threshold=3
  cal -k test_conv_stack_wide $common --infperf-batches=64 --aa-runs 1 --slowdowns 1.15,1.2 \
    --storage "$keep/wide" --label wide- --out "$OUT/detect-conv-wide.md"
  cal -k test_launch_chain $common --infperf-batches=1 --aa-runs 1 --slowdowns 1.25,1.5 --storage "$keep/chain" \
    --label chain- --out "$OUT/detect-chain.md"
  ;;
esac
tar czf "$OUT/json-$1.tgz" -C "$OUT" json && rm -rf "$OUT/json"
echo "wall $(( $(date +%s) - start )) s"
