"""Seed 001's figures from a serving run's pytest-benchmark JSON (``benchmarks/seed001``), as compact tables: per
served backend, inferences/s by users (rows) and max batch (columns), then p99 and the mean formed batch; and the
client's ceiling with and without shared memory. Optionally the in-process cells of the same model to compare.

    python3 benchmarks/seed001/summary.py seed001.json [inproc.json] [--plots DIR]

``--plots DIR`` also draws the sweeps' throughput and p99 against users, one line per max batch (from the figures the
JSON keeps: the plugin's JSON leaves the raw latencies to pytest-benchmark's stats; the ceiling cells left out).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def serving_cells(path: str) -> list[dict]:
    data = json.load(open(path))
    return [b["extra_info"]["infperf_serving"] | {"test": b["name"].split("[")[0], "params": b["params"]}
            for b in data["benchmarks"] if "infperf_serving" in b.get("extra_info", {})]


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def pivot(cells: list[dict], figure, spec: str) -> list[str]:
    grid: dict[int, dict[int, float | None]] = defaultdict(dict)
    batches = sorted({c["batcher"]["max_batch"] for c in cells})
    for c in cells:
        grid[c["load"]["spec"]["users"]][c["batcher"]["max_batch"]] = figure(c)
    lines = ["| users | " + " | ".join(f"mb{b}" for b in batches) + " |", "|---" * (len(batches) + 1) + "|"]
    lines += [f"| {u} | " + " | ".join(fmt(grid[u].get(b), spec) for b in batches) + " |" for u in sorted(grid)]
    return lines


def draw(cells: list[dict], folder: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    Path(folder).mkdir(parents=True, exist_ok=True)
    sweeps: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        if not c["test"].startswith("test_client_ceiling"):
            sweeps[c["served"]].append(c)
    for served, group in sweeps.items():
        for key, label in (("inferences_per_s", "inferences/s"), ("p99_ms", "p99 latency (ms)")):
            fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
            for mb in sorted({c["batcher"]["max_batch"] for c in group}):
                pts = sorted((c["load"]["spec"]["users"], c["load"]["summary"][key]) for c in group
                             if c["batcher"]["max_batch"] == mb and c["load"]["summary"].get(key) is not None)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"max batch {mb}")
            ax.set_title(f"ResNet-18 served by Triton ({served}) on the H200: {label}", fontsize=9)
            ax.set_xlabel("concurrent users (closed loop)")
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            path = Path(folder) / f"{served}-{key.replace('_per_s', '').replace('_ms', '')}-vs-users.png"
            fig.tight_layout()
            fig.savefig(path)
            plt.close(fig)
            print(f"plot: {path}")


def main(args: list[str]) -> int:
    plots = None
    if "--plots" in args:
        at = args.index("--plots")
        plots, args = args[at + 1], args[:at] + args[at + 2:]
    cells = [c for c in serving_cells(args[0]) if c.get("load")]
    if plots:
        draw(cells, plots)
    sweeps: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        if not c["test"].startswith("test_client_ceiling"):
            sweeps[c["served"]].append(c)
    for served, group in sweeps.items():
        print(f"\n### {served}: inferences/s (batch-1 requests, closed loop)\n")
        print("\n".join(pivot(group, lambda c: c["load"]["summary"]["inferences_per_s"], ".0f")))
        print(f"\n### {served}: p99 latency ms\n")
        print("\n".join(pivot(group, lambda c: c["load"]["summary"].get("p99_ms"), ".2f")))
        print(f"\n### {served}: mean formed batch\n")
        print("\n".join(pivot(group, lambda c: c["load"]["stats"].get("mean_batch")
                              or c["load"]["summary"].get("mean_batch"), ".2f")))
    ceiling = [c for c in cells if c["test"].startswith("test_client_ceiling")]
    if ceiling:
        print("\n### client ceiling (trivial model, same input) vs ResNet-18, max batch 64\n")
        print("| users | inputs | ResNet-18 req/s | ceiling req/s | p99 ms | queue ms | compute infer ms |")
        print("|---|---|---|---|---|---|---|")
        for c in ceiling:
            s, st = c["load"]["summary"], c["load"]["stats"]
            roof = (c.get("ceiling") or {}).get("summary", {}).get("requests_per_s")
            print(f"| {c['load']['spec']['users']} | {'shm' if c['load']['spec'].get('shm') else 'gRPC'} | "
                  f"{fmt(s['requests_per_s'])} | {fmt(roof)}"
                  f" | {fmt(s.get('p99_ms'), '.2f')} | {fmt(st.get('queue_ms'), '.2f')} | "
                  f"{fmt(st.get('compute_infer_ms'), '.2f')} |")
    if len(args) > 1:
        print("\n### in-process cells (same model, fp16; concurrency = sessions side by side)\n")
        print("| cell | median ms per call | samples/s (all users) |")
        print("|---|---|---|")
        for b in json.load(open(args[1]))["benchmarks"]:
            per_s = b.get("extra_info", {}).get("infperf", {}).get("images_per_s")  # all users together
            print(f"| {b['params'].get('infperf_case', b['name'])} | {b['stats']['median'] * 1e3:.3f} | "
                  f"{fmt(per_s)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
