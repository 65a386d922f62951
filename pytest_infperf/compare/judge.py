"""The compare layer's one entry point for a cell: its result against the baseline, decided as a frozen bundle of
verdicts (time, cold start, memory). Pure: reads the result and the baseline, writes nothing, raises nothing; the
fixture stores the bundle and enforces it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..measure import hostspeed
from ..measure.results import CellResult, Outcome, comparable_cold_starts, usable
from . import gate
from .baseline import BaselineSet
from .gate import GatePolicy, Status, Verdict


@dataclass(frozen=True)
class Verdicts:
    """One cell's verdicts: its time, its cold start and, where memory was sampled, its peak memory. A cell out of
    memory now has only a memory verdict (`oom_verdict`)."""

    time: Verdict | None
    cold: Verdict | None
    memory: Verdict | None = None

    def kinds(self) -> dict[str, Verdict]:
        """The verdicts present, by the name the failure message, the summary and the JSON give them."""
        named = (("time", self.time), ("cold-start", self.cold), ("memory", self.memory))
        return {kind: v for kind, v in named if v is not None}

    def regressed(self) -> bool:
        return any(v.status is Status.REGRESSED for v in self.kinds().values())

    def regressions(self) -> list[str]:
        """A line per regressed kind, in the order the failure message lists them."""
        return [f"{'performance' if kind == 'time' else kind} regression: {v.message()}"
                for kind, v in self.kinds().items() if v.status is Status.REGRESSED]


def apply(result: CellResult, baseline: BaselineSet, gate_policy: GatePolicy) -> Verdicts:
    """Judge a measured cell against its baseline runs (pytest-benchmark keys stored cells by the node id)."""
    nodeid = result.nodeid
    repeats = result.repeats
    launch_bound = any(r.diagnosis is not None and r.diagnosis.launch_bound for r in repeats) or (
        baseline.launch_bound(nodeid))
    steady = usable(repeats)
    unstable = ""
    if result.case.device == "cuda":
        unstable = gate.instability(repeats, baseline.sm_clock(nodeid), launch_bound, gate_policy)
    runs = baseline.samples(nodeid)
    current = [r.timing.samples for r in steady]
    # the floor of the less repeated side: a baseline measured once per run is as noisy as one median
    compared = min([len(steady), *(len(run) for run in runs)])
    floor = gate_policy.floor(result.case.device, launch_bound, compared)
    device_bound = result.case.device == "cuda" and not launch_bound
    verdict = gate.decide(result.case.id, current, runs, gate_policy, baseline.source, floor=floor, unstable=unstable,
                          device_bound=device_bound)
    # host speed differs between processes and sessions: divide it out
    normal = host_normalised(result.case.device, launch_bound, current, [r.host_probes for r in steady], runs,
                             baseline.host_probes(nodeid))
    if normal is not None:
        cur_n, runs_n, note = normal
        normalised = gate.decide(result.case.id, cur_n, runs_n, gate_policy, baseline.source, floor=floor,
                                 unstable=unstable)
        verdict = host_judged(verdict, normalised, note)  # a launch-bound GPU cell (see host_probe)
    colds = comparable_cold_starts([(r.cold_start_s, r.ran_cached_phase) for r in repeats if not r.confirm])
    cold = gate.decide_cold(result.case.id, colds, baseline.cold(nodeid), gate_policy, baseline.source)
    memory = None
    peaks = result.memory_peaks_mib
    if peaks:
        memory = gate.decide_memory(result.case.id, peaks, baseline.memory(nodeid), gate_policy,
                                    rss=result.case.device == "cpu")
    return Verdicts(verdict, cold, memory)


def host_probe(device: str, launch_bound: bool, cpu: bool = False) -> str:
    """Which host-speed probe a cell is judged with ("" for none): a launch-bound GPU cell's time is the host's
    launch speed (a device-bound one's is the GPU's, which the probe does not see). A CPU cell's memory probe
    (`hostspeed.MemoryProbe`) is recorded but judged with only when ``cpu`` is set (`benchmarks/rejudge.py
    --cpu-probe`, with `host_cleared`): its readings are too few per repeat to be precise (two per repeat in CI, one
    cell's ratio to the save 0.84-1.22 in A/A sessions), and dividing each repeat by its own reading before taking the
    fastest picks the repeat whose probe read slowest — in CI it cleared a real 1.25x slowdown (onnxruntime b8,
    +21.2 %) while clearing one A/A `noisy` (docs/results/cpu/memory-probe/)."""
    if device == "cuda" and launch_bound:
        return "launch probe"
    if device == "cpu" and cpu:
        return "memory probe"
    return ""


def host_rule(device: str) -> Callable[[Verdict, Verdict, str], Verdict]:
    """How a cell's raw and host-normalised verdicts combine: `host_judged` on a GPU, `host_cleared` on a CPU (only
    where the CPU probe is judged with at all, see `host_probe`)."""
    return host_cleared if device == "cpu" else host_judged


def host_normalised(
    device: str, launch_bound: bool, current: gate.Repeats, current_probes: Sequence[Sequence[float] | None],
    runs: Sequence[gate.Repeats], baseline_probes: Sequence[Sequence[Sequence[float]] | None], cpu: bool = False,
) -> tuple[list[tuple[float, ...]], list[list[tuple[float, ...]]], str] | None:
    """The current repeats and baseline runs divided by their host probes (`hostspeed.normalise_runs`), with the
    note for the verdict; None where the cell has no probe or either side lacks readings. A launch-bound GPU cell
    is divided block by block (its host mode can change between two blocks); a CPU cell repeat by repeat, by the
    pooled reading of the repeat's probe (`hostspeed.per_repeat`), only with ``cpu`` (see `host_probe`)."""
    probe = host_probe(device, launch_bound, cpu)
    if not probe:
        return None
    if device == "cpu":
        current_probes = hostspeed.per_repeat(current_probes)
        baseline_probes = [None if run is None else hostspeed.per_repeat(run) for run in baseline_probes]
    return hostspeed.normalise_runs(current, current_probes, runs, baseline_probes, what=probe)


def host_cleared(raw: Verdict, normalised: Verdict, note: str) -> Verdict:
    """A CPU cell's verdict judged with its memory probe (evidence only, `rejudge.py --cpu-probe`; the gate judges
    CPU cells on their raw samples, see `host_probe`): the raw one, except that a ``noisy`` slowdown the host
    explains — unchanged (or faster) once divided by the memory probe — is ``unchanged``, with both figures in the
    detail. Nothing else changes: a raw regression stays one whatever the probe read, and a slowdown beyond the
    threshold after division stays ``noisy``. What it can hide: a real slowdown smaller than the one-save noise
    limit in a repeat whose probe read slow by as much."""
    if raw.status is Status.NOISY and raw.change is not None and raw.change > 0 and (
            normalised.status in (Status.UNCHANGED, Status.IMPROVED) and normalised.change is not None):
        why = (f"{raw.change:+.1%} raw, {normalised.change:+.1%} divided by the host's memory speed: the host, not "
               f"the cell, ran slower; {note}")
        return dataclasses.replace(raw, status=Status.UNCHANGED, detail=why, rounds_needed=None)
    if raw.status in (Status.NOISY, Status.REGRESSED) and normalised.change is not None:
        why = f"{normalised.change:+.1%} divided by the host's memory speed; {note}"
        return dataclasses.replace(raw, detail="; ".join(d for d in (raw.detail, why) if d))
    return raw


def host_judged(raw: Verdict, normalised: Verdict, note: str) -> Verdict:
    """The verdict on a cell with host probes on both sides (a launch-bound GPU cell, a CPU cell): the host-normalised
    one, except that a host-normalised regression, or a host-normalised slowdown within the noise, is cleared when the
    raw samples show no slowdown at all (their fastest repeat within its limit: unchanged or improved). Normalising
    clears a session whose processes all launch slowly (every repeat in the slow host mode: raw +49 %, normalised
    unchanged on the H200). The raw check clears a cell that is device-bound in the fast host mode and launch-bound in
    the slow one (torch bf16 b64 on the H200: 1.96 ms whatever the probe read when fast), whose blocks the probe ratio
    over-corrects (+12.0 % normalised, -0.8 % raw). A real launch-bound slowdown adds host work to every call and shows
    in the raw samples too (launch chain 1.25x: +26.9 % normalised, +21.4 % raw)."""
    if normalised.status in (Status.REGRESSED, Status.NOISY) and raw.status in (Status.UNCHANGED, Status.IMPROVED):
        why = (f"host-normalised {normalised.change:+.1%} would be {normalised.status.value}, but the raw fastest "
               f"repeat ({raw.change:+.1%}) is within its limit: judged on the raw samples; {note}")
        return dataclasses.replace(raw, detail="; ".join(d for d in (raw.detail, why) if d))
    return dataclasses.replace(normalised, detail="; ".join(d for d in (normalised.detail, note) if d))


def oom_verdict(outcome: Outcome, nodeid: str, baseline: BaselineSet | None) -> Verdict | None:
    """A cell out of memory now: a memory regression when the baseline ran it, else nothing to judge."""
    if baseline is None or not baseline.samples(nodeid):
        return None
    return Verdict(
        cell=outcome.cell, status=Status.REGRESSED, current_median=float("inf"), unit="MiB",
        baseline_source=baseline.source, detail=f"ran in the baseline ({baseline.source}), out of memory now",
    )
