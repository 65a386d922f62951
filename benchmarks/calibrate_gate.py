"""Calibrate the regression gate on this machine: A/A compares (false alarms) and injected slowdowns (detections).

Each session is a fresh `pytest` process, as in CI. Usage (from the repository root):

    python benchmarks/calibrate_gate.py --baseline-runs 1 --aa-runs 5 --slowdowns 1.25,1.5,2 \
        --out docs/results/cpu/gate-calibration.md -k test_small [extra pytest args]
    python benchmarks/calibrate_gate.py --suite perf_tests --aa-runs 5 --slowdowns "" --out aa.md   # default suite

``--suite`` is the folder of perf tests (default: benchmarks/gate_calibration, whose models read
INFPERF_CAL_SLOWDOWN). Prints, per session, its exit code, wall time and verdict counts, then a table per cell, and
writes it as markdown (``--keep DIR`` also keeps every session's JSON). Nothing is written under baselines/: the
runs use a temporary storage folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pytest_infperf.measure.hostspeed import OtherCpu, children_cpu_s

ROOT = Path(__file__).resolve().parent.parent


def pytest_run(suite: str, storage: Path, extra: list[str], env_extra: dict[str, str], json_out: Path,
               log: Path | None = None) -> tuple[int, float, float | None]:
    """Exit code, wall seconds, and the CPU seconds per second of wall that *other* processes used meanwhile (the
    machine's busy time less the session's own processes': on a 2-core VM a second process on one core slows a
    2-thread cell by a third and a 1-thread cell not at all), or None where /proc/stat cannot be read."""
    cmd = [sys.executable, "-m", "pytest", suite, "-q", "--no-header", "-p", "no:randomly",
           f"--benchmark-storage=file://{storage}", f"--benchmark-json={json_out}", *extra]
    env = {**os.environ, **env_extra}
    started, others = time.perf_counter(), OtherCpu(own=children_cpu_s)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    other = others.stop()
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"pytest exited {proc.returncode}: {' '.join(cmd)}")
    for line in proc.stdout.splitlines():
        if line.startswith("time: "):  # where the session's measuring time went (report.time_breakdown)
            print("   ", line[:400], flush=True)
        elif proc.returncode == 1 and "regression:" in line:  # why it failed (a false alarm or a detection)
            print("   ", line[:400], flush=True)
    return proc.returncode, wall, other


def benchmarks(path: Path) -> dict[str, dict]:
    return {b["param"]: b for b in json.loads(path.read_text())["benchmarks"]}


def verdict(bench: dict, kind: str = "") -> dict | None:
    return bench["extra_info"].get(f"infperf{'_' + kind if kind else ''}_verdict")


def fmt_change(v: dict | None) -> str:
    return f"{v['change']:+.1%} {v['status']}" if v and v.get("change") is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="benchmarks/gate_calibration")
    parser.add_argument("--baseline-runs", type=int, default=1)
    parser.add_argument("--aa-runs", type=int, default=5)
    parser.add_argument("--slowdowns", default="1.25,2")
    parser.add_argument("--slowdown-args", default="", help="extra pytest args for the slowdown sessions only")
    parser.add_argument("--aa-args", default="", help="extra pytest args for the A/A sessions only")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="copy every session's JSON into this folder")
    parser.add_argument("--storage", type=Path, help="baseline folder to use and keep (default: a temporary one)")
    parser.add_argument("--label", default="", help="prefix of the session labels")
    args, extra = parser.parse_known_args()
    slowdowns = [float(x) for x in args.slowdowns.split(",") if x]
    slow_extra = args.slowdown_args.split()
    started = time.perf_counter()
    sessions: list[str] = []

    with tempfile.TemporaryDirectory() as tmp:
        storage = args.storage or Path(tmp) / "baselines"

        def session(label: str, more: list[str], env: dict[str, str]) -> dict[str, dict]:
            label = args.label + label
            out = Path(tmp) / f"{label}.json"
            log = args.keep / f"{label}.log" if args.keep else None
            if log is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
            code, wall, other = pytest_run(args.suite, storage, [*extra, *more], env, out, log)
            found = benchmarks(out)
            counts = Counter((verdict(b) or {}).get("status", "-") for b in found.values())
            cold = Counter((verdict(b, "cold") or {}).get("status", "-") for b in found.values())
            line = (f"| {label} | {code} | {wall:.0f} s | {len(found)} | "
                    f"{', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} | "
                    f"{', '.join(f'{n} {s}' for s, n in sorted(cold.items()))} | "
                    f"{'-' if other is None else f'{other:.2f}'} |")
            print(line, flush=True)
            sessions.append(line)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, args.keep / out.name)
            return found

        print("| session | exit | wall | cells | time verdicts | cold-start verdicts | other processes' CPU (cores) |"
              "\n|---|---|---|---|---|---|---|")
        base = [session(f"save{i + 1}", ["--benchmark-save=cal"], {}) for i in range(args.baseline_runs)]
        aa = [session(f"aa{i + 1}", ["--benchmark-compare", *args.aa_args.split()], {}) for i in range(args.aa_runs)]
        slow = {f: session(f"slow{f:g}", ["--benchmark-compare", *slow_extra], {"INFPERF_CAL_SLOWDOWN": str(f)})
                for f in slowdowns}

    aa_fail = sum(1 for line in sessions if line.startswith(f"| {args.label}aa") and line.split("|")[2].strip() == "1")
    compares = [v for run in aa for b in run.values() if (v := verdict(b))]
    statuses = Counter(v["status"] for v in compares)
    lines = [
        f"Gate calibration: suite {args.suite}, {args.baseline_runs} baseline run(s) saved, {args.aa_runs} A/A "
        f"compares, injected slowdowns {', '.join(f'{f:g}x' for f in slowdowns) or 'none'}; each session a fresh "
        f"pytest process; extra args: {' '.join(extra) or '(none)'}; wall {time.perf_counter() - started:.0f} s.",
        "",
        "| session | exit | wall | cells | time verdicts | cold-start verdicts | other processes' CPU (cores) |",
        "|---|---|---|---|---|---|---|",
        *sessions,
        "",
        f"A/A sessions that failed: {aa_fail} of {args.aa_runs}. A/A cell compares: {len(compares)}: "
        + ", ".join(f"{n} {s} ({n / max(len(compares), 1):.1%})" for s, n in sorted(statuses.items())) + ".",
        "",
        "| cell | diagnosis | repeats' spread (median over A/A) | baseline figure | A/A change: median / max abs | "
        "A/A cold start: baseline / max abs change | notes | "
        + " | ".join(f"{f:g}x" for f in slowdowns) + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(slowdowns),
    ]
    cells = list(aa[0]) if aa else list(base[-1]) if base else []
    for cell in cells:
        runs = [run[cell] for run in aa if cell in run]
        vs = [v for b in runs if (v := verdict(b))]
        changes = np.array([v["change"] for v in vs if v.get("change") is not None])
        spreads = [v["repeat_spread"] for v in vs if v.get("repeat_spread") is not None]
        colds = [v for b in runs if (v := verdict(b, "cold")) and v.get("change") is not None]
        cold_abs = [abs(v["current_median_s"] - v["baseline_median_s"]) for v in colds]
        first = (base[-1].get(cell) if base else None) or (runs[0] if runs else None)
        info = first["extra_info"]["infperf"] if first else {}
        diag = info.get("diagnosis") or {}
        notes = Counter(n.split(" repeat(s) ")[-1] if "repeat(s)" in n else n
                        for b in runs for n in b["extra_info"]["infperf"].get("notes", []))
        row = [
            cell,
            f"{'launch-bound' if diag.get('launch_bound') else 'device-bound' if diag else '-'}"
            + (f" ({diag['ratio']:.2f})" if diag.get("ratio") is not None else ""),
            f"{np.expm1(np.median(spreads)):.1%}" if spreads else "-",
            f"{vs[0]['baseline_median_s'] * 1e3:.3f} ms" if vs and vs[0].get("baseline_median_s") else "-",
            f"{np.median(changes):+.1%} / {np.max(np.abs(changes)):.1%}" if changes.size else "-",
            (f"{colds[0]['baseline_median_s'] * 1e3:.0f} ms / {max(cold_abs) * 1e3:.0f} ms "
             f"({max(abs(v['change']) for v in colds):.0%})") if colds else "-",
            ", ".join(f"{k} ×{n}" for k, n in notes.items()) or "-",
        ]
        row += [fmt_change(verdict(slow[f][cell])) if cell in slow[f] else "cell failed" for f in slowdowns]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
