"""Per session and cell of an episodes.sh run: verdict, change, and every repeat's median (ms; c: confirmation, w: taken
after a wait) with its start in seconds after the cell's first repeat.

    python benchmarks/cpu_contention/episodes_table.py ${TMPDIR:-/tmp}/episodes/LABEL
"""

import glob
import json
import os
import sys


def main() -> None:
    folder = sys.argv[1]
    files = sorted(glob.glob(os.path.join(folder, "*.json")))
    for path in sorted(files, key=lambda p: (not os.path.basename(p).startswith("s-"), p)):
        data = json.load(open(path))
        print(f"\n{os.path.basename(path)[:-5]}")
        for bench in data["benchmarks"]:
            repeats = bench["extra_info"]["infperf"]["repeats"]
            verdict = bench["extra_info"].get("infperf_verdict") or {}
            medians = " ".join(
                f"{r['median_s'] * 1e3:.2f}{'c' if r['confirm'] else ''}{'w' if r.get('waited_s') else ''}"
                for r in repeats)
            starts = " ".join(f"{r['started_at'] - repeats[0]['started_at']:.0f}" for r in repeats)
            status = verdict.get("status", "save")
            change = f"{verdict['change'] * 100:+.1f}%" if verdict.get("change") is not None else ""
            print(f"  {bench['param']:26s} {status:9s} {change:>7s}  {medians}  (t+ {starts} s)")


if __name__ == "__main__":
    main()
