"""Comparing against baselines: the gate's decisions, reading and saving baseline files, the machine fingerprint.

``apply`` judges one measured cell against its baseline and returns the verdict bundle; ``oom_verdict`` judges a cell
that ran out of memory."""

from .judge import Verdicts, apply, oom_verdict

__all__ = ["Verdicts", "apply", "oom_verdict"]
