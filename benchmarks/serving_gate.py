"""Calibrate the serving gate on this machine: one save of a few serving cells, A/A compares, then the served model
made slower (each session a fresh `pytest` process, a real Triton server through PyTriton).

    python benchmarks/serving_gate.py --aa 4 --slow 5,8 [--sleep-ms 4] [--repeats 3]

The model is `pytest_infperf.serving.toys:busy_env` (sleeps $INFPERF_TOY_SLEEP_MS per execution, whatever the batch)
behind max batch 8, closed-loop 1 and 4 users and an open-loop 100 requests/s; ``--slow`` lists the sleep (ms) of
the slowdown sessions. Prints a line per session: exit code, wall time, the throughput and p99 verdicts per cell.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = '''
import pytest

@pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:busy_env", input_shape=(8,), max_batch=[8],
                             users=[1, 4], rate=[100], ceiling=False, repeats={repeats}, duration_s={duration},
                             warmup_s=0.5, queue_delay_us=1000)
def test_served(infperf_serving):
    infperf_serving.run()
'''


def session(folder: Path, label: str, sleep_ms: float, extra: list[str]) -> None:
    out = folder / f"{label}.json"
    env = {**os.environ, "INFPERF_TOY_SLEEP_MS": str(sleep_ms)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", str(folder / "test_served.py"), "-q", "-p", "no:randomly",
                           "--no-header", f"--benchmark-storage=file://{folder / 'baselines'}",
                           f"--benchmark-json={out}", *extra], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cells = []
    if out.exists():
        for bench in json.loads(out.read_text())["benchmarks"]:
            record = bench["extra_info"]["infperf_serving"]
            summary = (record.get("load") or {}).get("summary") or {}
            verdicts = record.get("verdicts") or {}
            shown = ", ".join(f"{kind} {v['status']} {v['change']:+.1%}" for kind, v in verdicts.items()
                              if v.get("change") is not None)
            cells.append(f"{bench['params']['infperf_case']}: {summary.get('inferences_per_s') or 0:.0f}/s p99 "
                         f"{summary.get('p99_ms') or 0:.1f} ms{' [' + shown + ']' if shown else ''}")
    print(f"{label} (sleep {sleep_ms:g} ms): exit {proc.returncode}, {wall:.0f} s; " + "; ".join(cells), flush=True)
    if proc.returncode not in (0, 1):
        print(proc.stdout[-3000:], proc.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aa", type=int, default=4)
    parser.add_argument("--slow", default="5,8", help="sleep ms of the slowdown sessions")
    parser.add_argument("--sleep-ms", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--serving-python", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="infperf-serving-gate-"))
    (folder / "test_served.py").write_text(TEST.format(repeats=args.repeats, duration=args.duration))
    extra = [f"--infperf-serving-python={args.serving_python}"] if args.serving_python else []
    if not args.serving_python:
        extra = [f"--infperf-serving-python={Path(__file__).resolve().parents[1] / '.venv-serving/bin/python'}"]
    session(folder, "save", args.sleep_ms, [*extra, "--benchmark-save=base"])
    for i in range(1, args.aa + 1):
        session(folder, f"aa{i}", args.sleep_ms, [*extra, "--benchmark-compare"])
    for ms in (float(x) for x in args.slow.split(",") if x):
        session(folder, f"slow{ms / args.sleep_ms:.2g}x", ms, [*extra, "--benchmark-compare"])


if __name__ == "__main__":
    main()
