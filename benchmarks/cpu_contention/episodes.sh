#!/bin/bash
# The gate through staged slow-host episodes: bash benchmarks/cpu_contention/episodes.sh LABEL [pytest args]
# One quiet save, then TRIALS (default 3) rounds of: an episode (two memory hogs, memhog.py 256 MiB and 16 MiB, for
# EPISODE_S seconds, default 40) starting with an A/A compare with the default infperf_host_wait, another episode with
# an A/A compare with infperf_host_wait=0, and (unless SLOWED=0) an episode with a 1.25x slowdown (default wait). Prints each session's
# line; every session's JSON stays in ${TMPDIR:-/tmp}/episodes/LABEL.
label=$1; shift
st=${TMPDIR:-/tmp}/episodes/$label; rm -rf "$st"; mkdir -p "$st"
cd "$(dirname "$0")/../.."
cal() { python3 benchmarks/calibrate_gate.py --storage "$st/st" --keep "$st" -k test_small "$@" 2>&1; }
episode() {
  python3 benchmarks/cpu_contention/memhog.py "${EPISODE_S:-40}" 256 & h1=$!
  python3 benchmarks/cpu_contention/memhog.py "${EPISODE_S:-40}" 16 & h2=$!
}
cal --baseline-runs 1 --aa-runs 0 --slowdowns '' --label s- "$@" | grep -E "^\| s-"
for t in $(seq "${TRIALS:-3}"); do
  episode; cal --baseline-runs 0 --aa-runs 1 --slowdowns '' --label "wait$t-" "$@" | grep -E "^\| wait"; wait $h1 $h2
  episode; cal --baseline-runs 0 --aa-runs 1 --slowdowns '' --label "nowait$t-" "$@" -o infperf_host_wait=0 \
    | grep -E "^\| nowait"; wait $h1 $h2
  [ "${SLOWED:-1}" = 1 ] || continue
  episode; cal --baseline-runs 0 --aa-runs 0 --slowdowns 1.25 --label "slow$t-" "$@" | grep -E "^\| slow"; wait $h1 $h2
done
