"""Serving sweep outside pytest: one Triton server (PyTriton) per max-batch setting, closed-loop users (and optional
Poisson rates) against it, with the client's ceiling; prints a markdown table (seed 001's layout plus latency, the
formed batch and Triton's queue/compute split).

    python3 benchmarks/serving_sweep.py --model pytest_infperf.serving.toys:small_cnn --shape 3,64,64 \
        --max-batch 8,16 --users 1,2,4,8 --queue-delay-us 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_infperf.serving import cell, env, report  # noqa: E402
from pytest_infperf.serving.results import BatcherSettings, LoadSpec  # noqa: E402
from pytest_infperf.serving.server import TritonServer, model_spec  # noqa: E402


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="'module:attr' factory")
    ap.add_argument("--shape", required=True, help="one sample's shape, e.g. 3,64,64")
    ap.add_argument("--max-batch", default="8")
    ap.add_argument("--users", default="1,2,4,8")
    ap.add_argument("--rates", default="", help="open-loop Poisson request rates (requests/s)")
    ap.add_argument("--queue-delay-us", type=int, default=0)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--python", default=None, help="serving interpreter (default: .venv-serving/bin/python)")
    ap.add_argument("--json", default=None, help="write all cells' results here")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    python = args.python or env.default_python(root)
    why, libdir = env.probe(python)
    if why:
        print(f"{why}\ninstall: {env.INSTALL_HINT}")
        return 2
    shape = tuple(ints(args.shape))
    results = []
    with tempfile.TemporaryDirectory(prefix="infperf-serving-") as tmp:
        for mb in ints(args.max_batch):
            batcher = BatcherSettings(max_batch=mb, queue_delay_us=args.queue_delay_us, instances=args.instances)
            with TritonServer(python, libdir, model_spec(args.model, root), shape, batcher,
                              Path(tmp) / batcher.id) as server:
                server.start()
                loads = [LoadSpec(users=u, duration_s=args.duration, procs=args.procs) for u in ints(args.users)]
                loads += [LoadSpec(rate=float(r), duration_s=args.duration, procs=args.procs)
                          for r in args.rates.split(",") if r]
                for i, spec in enumerate(loads):
                    results.append(cell.measure(python, libdir, server, spec, Path(tmp) / "load",
                                                model=args.model, cold=i == 0))
                    print(report.row(results[-1]), flush=True)
    print()
    print(report.table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in results], indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
