"""Progress of long phases (export, engine build, compile): backends say what they are doing; the plugin shows it.

A backend calls ``progress.report("building TensorRT engine")`` before a phase that can take seconds. In a worker
process the message goes to the pytest process, which prints it once the phase has lasted a few seconds; in-process
the sink set by the fixture receives it. Without a sink, messages are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

_sink: Callable[[str], None] | None = None


def set_sink(sink: Callable[[str], None] | None) -> None:
    global _sink
    _sink = sink


def report(message: str) -> None:
    if _sink is not None:
        _sink(message)
