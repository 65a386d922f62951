"""Does a host probe move with the CI VM's slow sessions? Readings for docs/results/cpu/memory-probe/.

    while true; do python benchmarks/cpu_contention/host_states.py run >> OUT.jsonl; done   # one line per process
    python benchmarks/cpu_contention/host_states.py analyse OUT.jsonl

One fresh process times, with one thread each and interleaved (probes, cells, probes, cells, probes), five probes —
``mem`` one copy of a 64 MiB float32 array (beyond the 32 MiB L3: memory bandwidth), ``l3`` 20 copies of a 4 MiB one
(the shared L3), ``l1`` multiply-adds over 8 KiB (the previous CPU probe's kind), ``py`` a pure-Python loop, ``mm``
ten 256x256 torch matmuls — each the median over 0.25 s; and four cells — ResNet-18 at 64x64 (random weights) in
torch (``t1``, ``t8``: batch 1 and 8) and onnxruntime (``o1``, ``o8``), each the median over 0.8 s. ``analyse``
relates each cell's figure (the lesser of its two medians, in log units from its median over all processes) to each
probe's (the median of its three readings) and to the mean of two (the plugin's memory probe: ``mem`` and ``l3``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

PROBES = ("mem", "l3", "l1", "py", "mm")
CELLS = ("t1", "t8", "o1", "o8")


def _median(fn, seconds: float, warm: int = 3) -> list[float]:
    for _ in range(warm):
        fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return [float(np.median(times)), float(np.min(times))]


def _steal() -> int:
    with open("/proc/stat") as stat:
        return int(stat.readline().split()[8])


def run() -> None:
    import onnxruntime as ort
    import torch

    from pytest_infperf.artifacts.models import resnet18

    torch.set_num_threads(1)
    big_a = np.random.rand(16 * 2**20).astype(np.float32)
    big_b = np.empty_like(big_a)
    l3_a = np.random.rand(2**20).astype(np.float32)
    l3_b = np.empty_like(l3_a)
    l1_a = np.linspace(0.5, 1.5, 2048, dtype=np.float32)
    l1_b = np.empty_like(l1_a)
    mm_a, mm_b = torch.randn(256, 256), torch.randn(256, 256)

    def p_l3() -> None:
        for _ in range(20):
            np.copyto(l3_b, l3_a)

    def p_l1() -> None:
        for _ in range(200):
            np.multiply(l1_a, 0.999, out=l1_b)
            np.add(l1_b, l1_a, out=l1_b)

    def p_py() -> None:
        total = 0
        for i in range(20000):
            total += i * i

    def p_mm() -> None:
        for _ in range(10):
            torch.mm(mm_a, mm_b)

    model = resnet18().eval()
    onnx_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "infperf_host_states_r18_64.onnx")
    if not os.path.exists(onnx_path):
        torch.onnx.export(model, torch.randn(1, 3, 64, 64), onnx_path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    xs = {b: torch.randn(b, 3, 64, 64) for b in (1, 8)}

    def torch_cell(b: int):
        def call() -> None:
            with torch.inference_mode():
                model(xs[b])
        return call

    def ort_cell(b: int):
        feed = {"x": xs[b].numpy()}
        return lambda: session.run(None, feed)

    probes = {"mem": lambda: np.copyto(big_b, big_a), "l3": p_l3, "l1": p_l1, "py": p_py, "mm": p_mm}
    cells = {"t1": torch_cell(1), "t8": torch_cell(8), "o1": ort_cell(1), "o8": ort_cell(8)}
    steal, started = _steal(), time.time()
    out: dict = {"t": started, "probe": {}, "cell": {}}
    for _ in range(2):
        for name, fn in probes.items():
            out["probe"].setdefault(name, []).append(_median(fn, 0.25))
        for name, fn in cells.items():
            out["cell"].setdefault(name, []).append(_median(fn, 0.8))
    for name, fn in probes.items():
        out["probe"][name].append(_median(fn, 0.25))
    out["steal"] = _steal() - steal
    out["wall"] = time.time() - started
    print(json.dumps(out), flush=True)


def analyse(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    probe = {k: np.log([np.median([m for m, _ in r["probe"][k]]) for r in rows]) for k in PROBES}
    cell = {k: np.log([min(m for m, _ in r["cell"][k]) for r in rows]) for k in CELLS}
    probe = {k: v - np.median(v) for k, v in probe.items()}
    cell = {k: v - np.median(v) for k, v in cell.items()}
    probe["mem+l3"] = (probe["mem"] + probe["l3"]) / 2  # the log of hostspeed.MemoryProbe's geometric mean
    hours = (rows[-1]["t"] - rows[0]["t"]) / 3600
    print(f"{len(rows)} processes over {hours:.2f} h; steal {sum(r['steal'] for r in rows)} jiffies in all\n")
    print("Each cell's slowdown over its median (p90 / p95 / max, %), raw and divided by each probe; r: correlation")
    print("of the cell's and the probe's log figures over the processes.\n")
    print("| cell | raw | " + " | ".join(probe) + " |")
    print("|---|---|" + "---|" * len(probe))
    for c in CELLS:
        x = cell[c]

        def tail(v: np.ndarray) -> str:
            return f"{np.percentile(v, 90) * 100:.1f} / {np.percentile(v, 95) * 100:.1f} / {v.max() * 100:.1f}"
        cols = [f"r={np.corrcoef(x, probe[p])[0, 1]:+.2f}: {tail(x - probe[p])}" for p in probe]
        print(f"| {c} | {tail(x)} | " + " | ".join(cols) + " |")
    print("\nProcesses in which a cell ran 8 % or more over its median (%):\n")
    print("| # | " + " | ".join(CELLS) + " | " + " | ".join(probe) + " |")
    print("|---|" + "---|" * (len(CELLS) + len(probe)))
    for i in range(len(rows)):
        if max(cell[c][i] for c in CELLS) >= 0.08:
            print(f"| {i} | " + " | ".join(f"{cell[c][i] * 100:+.1f}" for c in CELLS) + " | "
                  + " | ".join(f"{probe[p][i] * 100:+.1f}" for p in probe) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        run()
    elif sys.argv[1:2] == ["analyse"] and len(sys.argv) == 3:
        analyse(sys.argv[2])
    else:
        sys.exit(__doc__)
