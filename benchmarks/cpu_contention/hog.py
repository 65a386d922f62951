"""Keep one core busy DUTY of the time (busy 50 ms x DUTY, then sleep for the rest of 50 ms) for SECONDS.

    python benchmarks/cpu_contention/hog.py DUTY SECONDS
"""

import sys
import time

PERIOD_S = 0.05


def main() -> None:
    duty, end = float(sys.argv[1]), time.time() + float(sys.argv[2])
    while time.time() < end:
        started = time.time()
        while time.time() - started < PERIOD_S * duty:
            pass
        time.sleep(PERIOD_S * (1 - duty) + 1e-6)


if __name__ == "__main__":
    main()
