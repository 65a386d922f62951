"""Readings for docs/results/cpu/threads-contention.md, one JSON line per round (every ~3 s) for SECONDS:

    python benchmarks/cpu_contention/probe_log.py SECONDS OUT.jsonl

ResNet-18 at 64x64 (random seeded weights) at batch 4 and 1 with torch's default threads (``r4``, ``r1``) and with
one thread (``r4t1``, ``r1t1``); single-threaded readings: L1 multiply-adds (``l1``, the plugin's CPU probe), a sum
over 8 MiB (``l3``) and over 64 MiB (``mem``), a 64 MiB copy (``cp``); two-threaded: a 384x384 matmul in numpy
(``mm``) and torch (``tmm``); the steal share of CPU time since the last round (``steal``). Each value is
[least, median] of its readings. Run ``hog.py`` beside it to see which of them another process slows.
"""

import json
import sys
import time

import numpy as np
import torch
import torchvision


def timed(call, rounds: int = 3) -> list[float]:
    readings = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        readings.append(time.perf_counter() - started)
    return [min(readings), float(np.median(readings))]


def steal() -> tuple[int, int]:
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return fields[7], sum(fields)


def main() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x4, x1 = torch.randn(4, 3, 64, 64), torch.randn(1, 3, 64, 64)
    big = np.random.rand(16 * 1024 * 1024).astype(np.float32)  # 64 MiB: beyond the last-level cache
    mid = np.random.rand(2 * 1024 * 1024).astype(np.float32)  # 8 MiB: in it
    dst = np.empty_like(big)
    a = np.linspace(0.5, 1.5, 8192, dtype=np.float32)
    b = np.empty_like(a)
    a2, b2 = np.random.rand(384, 384).astype(np.float32), np.random.rand(384, 384).astype(np.float32)
    ta, tb = torch.randn(384, 384), torch.randn(384, 384)

    def l1() -> None:
        for _ in range(16):
            np.multiply(a, 0.999, out=b)
            np.add(b, a, out=b)

    def forward(x: torch.Tensor) -> list[float]:
        with torch.inference_mode():
            model(x)
            return timed(lambda: model(x), rounds=10)

    end, out = time.time() + float(sys.argv[1]), open(sys.argv[2], "a")
    st0, tot0 = steal()
    default_threads = torch.get_num_threads()
    while time.time() < end:
        row: dict[str, object] = {"t": time.time(), "l1": timed(l1), "l3": timed(lambda: [mid.sum() for _ in range(8)]),
                                  "mem": timed(big.sum), "cp": timed(lambda: np.copyto(dst, big)),
                                  "r4": forward(x4), "r1": forward(x1)}
        torch.set_num_threads(1)
        row["r4t1"], row["r1t1"] = forward(x4), forward(x1)
        torch.set_num_threads(default_threads)
        row["mm"] = timed(lambda: [a2 @ b2 for _ in range(8)])
        row["tmm"] = timed(lambda: [torch.mm(ta, tb) for _ in range(8)])
        st, tot = steal()
        row["steal"] = (st - st0) / max(1, tot - tot0)
        st0, tot0 = st, tot
        out.write(json.dumps(row) + "\n")
        out.flush()
        time.sleep(3)


if __name__ == "__main__":
    main()
