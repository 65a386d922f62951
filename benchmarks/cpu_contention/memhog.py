"""Stream copies of an array of MIB MiB (default 256: beyond the last-level cache) for SECONDS: a neighbour on the
host's memory bandwidth and shared cache, like the ones that slow this project's CI VM for 16-80 s at a time
(docs/results/cpu/memory-probe/).

    python benchmarks/cpu_contention/memhog.py SECONDS [MIB]
"""

import sys
import time

import numpy as np


def main() -> None:
    end = time.time() + float(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    a = np.ones(mib * 2**18, np.float32)
    b = np.empty_like(a)
    while time.time() < end:
        np.copyto(b, a)
        np.copyto(a, b)


if __name__ == "__main__":
    main()
