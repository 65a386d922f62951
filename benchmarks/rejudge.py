"""Judge stored runs again under other gate settings, from the raw samples of every repeat kept in the JSON.

    python benchmarks/rejudge.py BASELINE.json CURRENT.json [CURRENT.json ...] --threshold 3

Uses the gate's own decide() with the floors the plugin would apply (launch-bound from either run's diagnosis).
The current runs' confirmation repeats are the ones their session took under its own settings: a session run at
the new threshold might have taken confirmation repeats for more cells, so this is an estimate of that session, not
a replay. No time verdict is written anywhere; it prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np

from pytest_infperf.compare import gate, judge
from pytest_infperf.compare.schema import stored_probes


def cells(path: Path) -> dict[str, dict]:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return {b["fullname"]: b["extra_info"]["infperf"] for b in json.loads(text)["benchmarks"]}


def launch_bound(info: dict) -> bool:
    return any((r.get("diagnosis") or {}).get("launch_bound") for r in info["repeats"]) or bool(
        (info.get("diagnosis") or {}).get("launch_bound"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path, nargs="+")
    parser.add_argument("--threshold", type=float, default=10.0, help="percent")
    parser.add_argument("--host", choices=("off", "normalised", "gate"), default="gate",
                        help="cells with host probes on both sides (launch-bound CUDA cells; CPU cells with "
                             "--cpu-probe): off = raw samples only, normalised = host-normalised samples only, "
                             "gate = the rule of compare.judge.host_rule (launch-bound cells: what the gate does)")
    parser.add_argument("--repeat-floor", type=float, default=None,
                        help="percent sigma of launch-bound GPU cells' fastest repeat (ini infperf_repeat_floor)")
    parser.add_argument("--device-floor", type=float, default=None,
                        help="percent sigma of device-bound GPU cells between sessions (ini infperf_device_floor)")
    parser.add_argument("--cpu-probe", action="store_true",
                        help="judge CPU cells with their memory probe too (hostspeed.MemoryProbe, compare.judge."
                             "host_cleared; the gate does not)")
    parser.add_argument("--quiet", action="store_true", help="only the table, not each regressed/noisy cell")
    args = parser.parse_args()
    policy = gate.GatePolicy(threshold=args.threshold / 100)
    if args.repeat_floor is not None:
        policy = dataclasses.replace(policy, repeat_floor=args.repeat_floor / 100)
    if args.device_floor is not None:
        policy = dataclasses.replace(policy, device_floor=args.device_floor / 100)
    base = cells(args.baseline)
    print(f"| session | threshold | {' | '.join(s.value for s in gate.Status)} | host probe now / baseline |")
    print("|---|---|" + "---|" * len(gate.Status) + "---|")
    for path in args.current:
        counts: Counter[str] = Counter()
        ratios: list[float] = []  # per cell with probes on both sides: median probe now / median in the baseline
        for name, info in cells(path).items():
            if name not in base:
                continue
            steady = [r for r in info["repeats"] if not r.get("throttled")] or info["repeats"]
            runs = [[r["samples"] for r in base[name]["repeats"]]]
            lb = launch_bound(info) or launch_bound(base[name])
            floor = policy.floor(info["device"], lb, min(len(steady), len(runs[0])))
            current = [r["samples"] for r in steady]
            device_bound = info["device"] == "cuda" and not lb
            verdict = gate.decide(info["cell"], current, runs, policy, floor=floor, device_bound=device_bound)
            normal = None
            if args.host != "off":
                normal = judge.host_normalised(info["device"], lb, current, [r.get("host_probes") for r in steady],
                                               runs, [stored_probes(info["device"], base[name]["repeats"])],
                                               cpu=args.cpu_probe)
            if normal is not None:
                now = [p for r in steady for p in r["host_probes"]]
                then = [p for r in base[name]["repeats"] for p in r["host_probes"]]
                ratios.append(float(np.median(now) / np.median(then)))
                cur_n, runs_n, note = normal
                normalised = gate.decide(info["cell"], cur_n, runs_n, policy, floor=floor)
                verdict = (normalised if args.host == "normalised"
                           else judge.host_rule(info["device"])(verdict, normalised, note))
            counts[verdict.status.value] += 1
            if not args.quiet and verdict.status in (gate.Status.REGRESSED, gate.Status.NOISY):
                print(f"    {verdict.message()}")
        row = " | ".join(str(counts.get(s.value, 0)) for s in gate.Status)
        probe = f"{np.median(ratios):.3f} (cells {min(ratios):.3f}–{max(ratios):.3f})" if ratios else "-"
        print(f"| {path.name} | {args.threshold:g} % {args.host}{' + CPU probe' if args.cpu_probe else ''} | {row} | "
              f"{probe} |")


if __name__ == "__main__":
    main()
