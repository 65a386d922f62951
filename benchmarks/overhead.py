"""How much does the plugin's measuring add? ResNet-18 fp16 on CUDA, per batch: the plugin's median (its own loop,
session and CUDA-event timer) against raw back-to-back CUDA-event timing of the same callable in the same process.

    python benchmarks/overhead.py [--backend torch] [--batches 1,16,64,128] [--json out.json]

Target: the plugin adds <= 1 % at batch >= 16 and <= 20 us per call at batch 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def raw_event_median(fn, x, calls: int, reps: int) -> float:
    import torch

    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(calls):
            fn(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / calls)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--batches", default="1,16,64,128")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved plugin/raw pairs per batch")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    from pytest_infperf.artifacts.models import ModelSpec
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.measure.runner import random_inputs
    from pytest_infperf.measure.stats import summarize
    from pytest_infperf.measure.timing import TimingPolicy, measure
    from pytest_infperf.settings import BackendOptions

    source = ModelSpec.from_marker("pytest_infperf.artifacts.models:resnet18", "resnet18").resolve(Path("."), 0)
    backend = make_backend(args.backend, BackendOptions())
    rows = []
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  backend {args.backend} {args.precision}")
    print(f"{'batch':>5}  {'plugin':>11}  {'raw events':>11}  {'ratio':>7}  {'added/call':>10}")
    for batch in [int(b) for b in args.batches.split(",")]:
        case = Case(args.backend, "cuda", args.precision, batch, (3, 224, 224))
        with backend.load(case, source, random_inputs(case, 0), Path("/tmp")) as session:
            ours, raw = [], []
            policy = TimingPolicy(min_rounds=10, max_time=1.0)
            for _ in range(args.rounds):
                timing = measure(session.run, session.block_timer(), policy)
                ours.append(summarize(timing.samples).median)
                calls = timing.block_size * max(1, len(timing.samples) // 7)
                raw.append(raw_event_median(session._call, session._inputs, calls, 7))
        plugin_s, raw_s = statistics.median(ours), statistics.median(raw)
        row = {"batch": batch, "plugin_s": plugin_s, "raw_s": raw_s, "ratio": plugin_s / raw_s,
               "added_us_per_call": (plugin_s - raw_s) * 1e6}
        rows.append(row)
        print(f"{batch:>5}  {plugin_s * 1e3:>8.4f} ms  {raw_s * 1e3:>8.4f} ms  {row['ratio']:>7.4f}  "
              f"{row['added_us_per_call']:>7.2f} us")
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "backend": args.backend,
                                         "precision": args.precision, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
