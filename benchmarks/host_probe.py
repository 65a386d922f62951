"""Does a tiny host-launch probe track the slow/fast host modes of launch-bound cells? (issue 11, lent H200)

Each fresh process: ResNet-18 eager fp16 b16 (launch-bound) timed in blocks of 100 calls, alternating with probes:
launch probe = 2000 tiny CUDA ops (``x.add_(1)`` on one element) then a synchronize; python probe = a pure-Python loop.

    PROCS=8 python3 benchmarks/host_probe.py

Seen on the H200 (2026-11-29): model 1.73-2.17 ms with probes 6.95-7.9 us in 6 processes, 2.48-2.90 ms with
8.9-10.7 us in 2; model/probe 236-289 apart from two disturbed blocks (372, 150); corr(model, launch) 0.74.
"""

import json
import os
import subprocess
import sys
import time


def child() -> None:
    import torch
    import torchvision

    torch.backends.cudnn.benchmark = False
    model = torchvision.models.resnet18().eval().cuda().half()
    x = torch.randn(16, 3, 224, 224, device="cuda").half()
    t = torch.zeros(1, device="cuda")

    def block(fn, n):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / n

    def python_loop():
        total = 0
        for i in range(20000):
            total += i
        return total

    with torch.inference_mode():
        for _ in range(20):
            model(x)
        out = []
        for _ in range(6):
            per_call = block(lambda: model(x), 100)
            launch = block(lambda: t.add_(1), 2000)
            start = time.perf_counter()
            python_loop()
            loop = time.perf_counter() - start
            cpu = int(open("/proc/self/stat").read().split()[38])
            out.append((per_call * 1e3, launch * 1e6, loop * 1e3, cpu))
    print(json.dumps(out))


def main() -> None:
    import numpy as np

    rows = []
    for proc in range(int(os.environ.get("PROCS", "8"))):
        done = subprocess.run([sys.executable, __file__, "child"], capture_output=True, text=True)
        for per_call, launch, loop, cpu in json.loads(done.stdout):
            rows.append((per_call, launch, loop))
            print(f"proc {proc} cpu {cpu:3d}  model {per_call:6.3f} ms  launch {launch:6.2f} us  "
                  f"python {loop:6.3f} ms  model/launch {per_call * 1e3 / launch:7.1f}", flush=True)
    a = np.array(rows)
    print(f"corr(model, launch) {np.corrcoef(a[:, 0], a[:, 1])[0, 1]:.2f}  "
          f"corr(model, python) {np.corrcoef(a[:, 0], a[:, 2])[0, 1]:.2f}")
    for name, values in (("model", a[:, 0]), ("launch", a[:, 1]), ("python", a[:, 2]),
                         ("model/launch", a[:, 0] / a[:, 1])):
        print(f"{name:13s} max/min {values.max() / values.min():.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child()
    else:
        main()
