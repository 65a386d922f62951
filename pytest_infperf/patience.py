"""Waiting out a slow host before confirming a CPU cell's suspected slowdown: the session's ``HostWait``.

On this project's 2-core CI VM whole sessions ran 6-27 % slower than others with nothing else running inside the VM,
in episodes of 16-80 s (a neighbour on the host's memory and shared cache, docs/results/cpu/memory-probe/). A
compare session that falls into one finds every CPU cell slower, and its confirmation repeats, taken at once, fall
into the same episode: the A/A ``noisy`` verdicts CI saw on CPU came from sessions that ran slow throughout. So when
a CPU cell still looks slower after its confirmation repeats, the session waits a step and takes one more repeat, in
a fresh worker process, again, until the cell is cleared or the session's waiting budget (ini ``infperf_host_wait``,
seconds in all) is spent.

Nothing is divided or cleared by arithmetic: the cell is judged on its raw samples, by its fastest repeat, as
always. Interference only ever adds time, so a repeat taken after the episode shows the cell's own speed; a real
slowdown is in every repeat whatever the host does and stays (it costs the budget once per session: later cells
confirm at once). What it can hide is what the fastest of more repeats can: a slowdown within one repeat's spread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

STEP_S = 15.0  # seconds between two waited repeats: the VM's slow episodes lasted 16-80 s


@dataclass
class HostWait:
    """The session's budget for waiting out slow host episodes (seconds), spent by `pause`. ``sleep`` is injected
    by tests (the fake backend's clock is not real time)."""

    budget_s: float
    step_s: float = STEP_S
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    spent_s: float = 0.0

    @property
    def left_s(self) -> float:
        return max(0.0, self.budget_s - self.spent_s)

    def next_pause(self) -> float:
        """How long the next wait would last: one step, or what is left of the budget (0: no more waiting)."""
        return min(self.step_s, self.left_s)

    def pause(self) -> float:
        """Wait one step (or the rest of the budget); the seconds waited (0 once the budget is spent)."""
        seconds = self.next_pause()
        if seconds > 0:
            self.sleep(seconds)
            self.spent_s += seconds
        return seconds
