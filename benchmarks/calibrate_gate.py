"""Calibrate the regression gate on this machine: repeated A/A compares (false alarms) and injected slowdowns.

Each run is a fresh `pytest` process, as in CI. Usage (from the repository root):

    python benchmarks/calibrate_gate.py --baseline-runs 3 --aa-runs 10 --slowdowns 1.1,1.25,1.5,2 \
        --out docs/results/cpu/gate-calibration.md [extra pytest args, e.g. --infperf-devices=cuda]

Prints a table per cell and writes it as markdown. Nothing is written under baselines/: the runs use a temporary
storage folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUITE = "benchmarks/gate_calibration"


def pytest_run(storage: Path, extra: list[str], env_extra: dict[str, str], json_out: Path | None) -> int:
    cmd = [sys.executable, "-m", "pytest", SUITE, "-q", "--no-header", f"--benchmark-storage=file://{storage}",
           *extra]
    if json_out is not None:
        cmd.append(f"--benchmark-json={json_out}")
    env = {**os.environ, **env_extra}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"pytest exited {proc.returncode}: {' '.join(cmd)}")
    return proc.returncode


def verdicts(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    return {b["param"]: b["extra_info"]["infperf_verdict"] for b in data["benchmarks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--aa-runs", type=int, default=10)
    parser.add_argument("--slowdowns", default="1.1,1.25,1.5,2")
    parser.add_argument("--out", type=Path)
    args, extra = parser.parse_known_args()
    slowdowns = [float(x) for x in args.slowdowns.split(",") if x]
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "baselines"
        base_medians: dict[str, list[float]] = defaultdict(list)
        for i in range(args.baseline_runs):
            out = Path(tmp) / f"base{i}.json"
            pytest_run(storage, [*extra, "--benchmark-save=cal"], {}, out)
            for bench in json.loads(out.read_text())["benchmarks"]:
                base_medians[bench["param"]].append(bench["stats"]["median"])
        aa: dict[str, list[dict]] = defaultdict(list)
        aa_exit = Counter()
        for i in range(args.aa_runs):
            out = Path(tmp) / f"aa{i}.json"
            aa_exit[pytest_run(storage, [*extra, "--benchmark-compare"], {}, out)] += 1
            for cell, verdict in verdicts(out).items():
                aa[cell].append(verdict)
        slow: dict[float, dict[str, dict]] = {}
        for factor in slowdowns:
            out = Path(tmp) / f"slow{factor}.json"
            pytest_run(storage, [*extra, "--benchmark-compare"], {"INFPERF_CAL_SLOWDOWN": str(factor)}, out)
            slow[factor] = verdicts(out)

    lines = [
        f"Gate calibration: {args.baseline_runs} baseline runs, {args.aa_runs} A/A compares, injected slowdowns "
        f"{', '.join(f'{f:g}x' for f in slowdowns)}; each run a fresh pytest process; extra args: "
        f"{' '.join(extra) or '(none)'}; wall {time.perf_counter() - started:.0f} s.",
        "",
        f"A/A sessions that exited 1 (a false alarm fails the session): {aa_exit.get(1, 0)} of {args.aa_runs}.",
        "",
        "| cell | baseline run medians | run-to-run spread of medians, all runs: σ / max-min | A/A verdicts | "
        "A/A change: median / max abs | gate limit | "
        + " | ".join(f"{f:g}x: change, verdict" for f in slowdowns) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(slowdowns),
    ]
    for cell, runs in aa.items():
        counts = Counter(v["status"] for v in runs)
        changes = np.array([v["change"] for v in runs if v["change"] is not None])
        limit = runs[-1]["limit"]
        medians = np.array([*base_medians.get(cell, []), *(v["current_median_s"] for v in runs)])
        row = [
            cell,
            " ".join(f"{m * 1e3:.1f}" for m in base_medians.get(cell, [])) + " ms",
            f"{np.std(np.log(medians), ddof=1):.1%} / {medians.max() / medians.min() - 1:.1%} ({medians.size} runs)",
            ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
            f"{np.median(changes):+.1%} / {np.max(np.abs(changes)):.1%}" if changes.size else "-",
            f"±{limit:.1%}" if limit is not None else "-",
        ]
        for factor in slowdowns:
            v = slow[factor].get(cell)
            row.append(f"{v['change']:+.1%} {v['status']}" if v and v["change"] is not None else "cell failed")
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
