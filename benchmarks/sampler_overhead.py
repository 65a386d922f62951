"""Does the memory sampler disturb the timing? The same cells, in fresh processes, alternating infperf_memory on/off.

    python benchmarks/sampler_overhead.py --repeats 3 --infperf-devices=cuda --infperf-precisions=fp16 \
        --infperf-backends=torch,torch-cudagraph,onnxruntime --infperf-batches=1,64

Prints, per cell, the median of the run medians with the sampler and without it, their ratio, and the cell's own
run-to-run spread without the sampler (max-min over median of the runs): the sampler is harmless when the ratio's
distance from 1 is inside that spread. (The sampler is paused during the timed blocks by design; this checks that.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(memory: str, extra: list[str], out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "pytest", "perf_tests/test_resnet.py", "-q", "-p", "no:randomly",
           "-o", f"infperf_memory={memory}", f"--benchmark-json={out}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    data = json.loads(out.read_text())
    return {b["param"]: b["stats"]["median"] for b in data["benchmarks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the table as markdown here")
    args, extra = parser.parse_known_args()
    medians: dict[str, dict[str, list[float]]] = {"on": {}, "off": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for memory in ("off", "on") if repeat % 2 == 0 else ("on", "off"):  # alternate the order
                for cell, median in run(memory, extra, Path(tmp, f"{memory}-{repeat}.json")).items():
                    medians[memory].setdefault(cell, []).append(median)
    lines = ["| cell | median with sampler | median without | ratio | run-to-run spread without |",
             "|---|---:|---:|---:|---:|"]
    for cell in sorted(medians["off"]):
        on, off = medians["on"].get(cell, []), medians["off"][cell]
        if not on:
            continue
        m_on, m_off = statistics.median(on), statistics.median(off)
        spread = (max(off) - min(off)) / m_off
        lines.append(f"| {cell} | {m_on * 1e3:.4f} ms | {m_off * 1e3:.4f} ms | {m_on / m_off:.4f} | {spread:.2%} |")
    text = "\n".join(lines)
    print(f"{args.repeats} fresh processes per setting, alternating order; {' '.join(extra)}")
    print(text)
    if args.out:
        args.out.write_text(f"# Memory sampler on vs off\n\n`python {' '.join(sys.argv)}`\n\n{text}\n")


if __name__ == "__main__":
    main()
