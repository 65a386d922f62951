"""Stored baselines: pytest-benchmark JSON files under ``<storage>/<fingerprint>/``.

Reading is strict: a file the gate relies on that is corrupt, truncated, of an unknown schema or from another machine
stops the session with a usage error naming the file and the fix. An older schema is migrated in memory (MIGRATIONS).
Nothing here ever writes or deletes a file; writing is storage.py's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BaselineError
from .schema import MIGRATIONS, OLDEST, SCHEMA, RecordError, cell_from_json, migrate

_NAME = re.compile(r"^(\d{4})_(.*)\.json$")
_RESAVE = "save a fresh baseline on this machine with: pytest perf_tests --benchmark-save=NAME"


@dataclass(frozen=True)
class BaselineRun:
    path: Path
    number: int
    name: str
    fingerprint: str
    datetime: str
    cells: Mapping[str, tuple[tuple[float, ...], ...]]  # benchmark fullname -> repeats -> raw per-call samples (s)
    launch_bound: frozenset[str] = frozenset()  # cells the run diagnosed as launch-bound
    cold: Mapping[str, float] = field(default_factory=dict)  # least cold start of the repeats (cold_start_seconds)
    memory: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # each repeat's peak memory (MiB)
    outcomes: Mapping[str, str] = field(default_factory=dict)  # fullname -> "oom" | "crashed" | "timeout" | "error"
    schema: int = SCHEMA  # the schema the file was written in (older ones are migrated on read)
    sm_clock: Mapping[str, float] = field(default_factory=dict)  # SM clock (MHz) of each GPU cell's fastest repeat
    host_probe: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)  # per repeat, per timed
    # block (cells where every block has one): seconds per tiny launch after the block (hostspeed)
    serving: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # serving cells that ended ok: their
    # record (extra_info.infperf_serving, judged by serving/gate.py)


@dataclass(frozen=True)
class BaselineSet:
    """The compared run (newest last) and earlier runs saved under the same name: independent repeats."""

    runs: tuple[BaselineRun, ...]

    @property
    def newest(self) -> BaselineRun:
        return self.runs[-1]

    @property
    def source(self) -> str:
        if not self.runs:
            return ""
        names = ", ".join(run.path.name for run in self.runs)
        return f"{self.newest.path.parent.name}/{{{names}}}" if len(self.runs) > 1 else str(self.newest.path.name)

    def samples(self, fullname: str) -> list[tuple[tuple[float, ...], ...]]:
        """Per baseline run (oldest first), the cell's repeats, each its raw per-call samples."""
        return [run.cells[fullname] for run in self.runs if fullname in run.cells]

    def memory(self, fullname: str) -> list[tuple[float, ...]]:
        """Each run's peak memory per repeat (one figure for a run saved before repeats)."""
        return [run.memory[fullname] for run in self.runs if fullname in run.memory]

    def cold(self, fullname: str) -> list[float]:
        return [run.cold[fullname] for run in self.runs if fullname in run.cold]

    def sm_clock(self, fullname: str) -> float | None:
        """The SM clock at the end of this cell in the newest run that recorded one."""
        for run in reversed(self.runs):
            if fullname in run.sm_clock:
                return run.sm_clock[fullname]
        return None

    def host_probes(self, fullname: str) -> list[tuple[tuple[float, ...], ...] | None]:
        """Per baseline run (as ``samples``), each repeat's host launch probes per timed block; None for a run
        without them."""
        return [run.host_probe.get(fullname) for run in self.runs if fullname in run.cells]

    def serving(self, fullname: str) -> list[Mapping[str, Any]]:
        """Per baseline run (oldest first) that served the cell and ended ok, its serving record."""
        return [run.serving[fullname] for run in self.runs if fullname in run.serving]

    def launch_bound(self, fullname: str) -> bool:
        return any(fullname in run.launch_bound for run in self.runs)

    def outcome(self, fullname: str) -> str | None:
        """How the cell ended in the newest run when it produced no timing ("oom", ...); None if it was measured."""
        return self.newest.outcomes.get(fullname) if self.runs else None


_PARTIAL_TOKEN = re.compile(r"[-+.eE]{1,2}|t|tr|tru|f|fa|fal|fals|n|nu|nul")


def truncated(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether the text stops mid-document rather than holding a wrong character: the parser failed at its end, in an
    unterminated string, or on the start of a token the end cut off ("4.1e-" of 4.1e-05, "tr" of true; the parser
    reads "4.1" and then stops at "e-")."""
    rest = text[exc.pos:].rstrip()
    return not rest or exc.msg.startswith("Unterminated string") or bool(_PARTIAL_TOKEN.fullmatch(rest))


def _fail(path: Path, problem: str, fix: str) -> BaselineError:
    return BaselineError(f"baseline {path}: {problem}; {fix}")


def read_run(path: Path, fingerprint: str) -> BaselineRun:
    restore = f"restore it (git checkout -- {path}) or move it away and {_RESAVE}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})", restore) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated" if truncated(text, exc) else "corrupt"
        raise _fail(path, f"is not valid JSON, the file is {what} ({exc.msg} at line {exc.lineno})", restore) from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise _fail(path, "is not a pytest-benchmark result (no 'benchmarks' list)", restore)
    info = (data.get("machine_info") or {}).get("infperf")
    if not isinstance(info, dict):
        raise _fail(path, "was not written by pytest-infperf (machine_info has no 'infperf' fingerprint)",
                    f"keep plain pytest-benchmark files out of the baseline folder, or {_RESAVE}")
    written = _schema_of(path, info.get("schema"), restore)
    data = migrate(data, written)
    if info.get("fingerprint") != fingerprint:
        raise _fail(path, f"was made on another machine (fingerprint {info.get('fingerprint')!r}, "
                          f"this machine is {fingerprint!r}) and is not comparable",
                    f"compare against a baseline of this machine: {_RESAVE}")
    cells: dict[str, tuple[tuple[float, ...], ...]] = {}
    launch_bound: set[str] = set()
    cold: dict[str, float] = {}
    memory: dict[str, tuple[float, ...]] = {}
    host_probe: dict[str, tuple[tuple[float, ...], ...]] = {}
    sm_clock: dict[str, float] = {}
    serving: dict[str, Mapping[str, Any]] = {}
    for bench in data["benchmarks"]:
        record = (bench.get("extra_info") or {}).get("infperf_serving") if isinstance(bench, dict) else None
        if isinstance(record, dict) and record.get("outcome") == "ok":
            serving[str(bench.get("fullname"))] = record
        try:
            cell = cell_from_json(bench)
        except RecordError as exc:
            raise _fail(path, str(exc), restore) from None
        if cell is None:  # its output check failed: a wrong result is no baseline
            continue
        name = cell.fullname
        cells[name] = cell.repeats
        if cell.launch_bound:
            launch_bound.add(name)
        if cell.memory_mib:
            memory[name] = cell.memory_mib
        if cell.sm_clock_mhz is not None:
            sm_clock[name] = cell.sm_clock_mhz
        if cell.host_probes is not None:
            host_probe[name] = cell.host_probes
        if cell.cold_s is not None:
            cold[name] = cell.cold_s
    match = _NAME.match(path.name)
    number, name = (int(match.group(1)), match.group(2)) if match else (0, path.stem)
    return BaselineRun(path, number, name, info["fingerprint"], str(data.get("datetime", "")), cells,
                       frozenset(launch_bound), cold, memory, _outcomes(path, data, restore), written, sm_clock,
                       host_probe, serving)


def _schema_of(path: Path, schema: object, restore: str) -> int:
    older = ", ".join(str(version) for version in sorted(MIGRATIONS))
    reads = f"reads schema {SCHEMA}" + (f" and migrates schema {older}" if older else "")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _fail(path, f"has no valid baseline schema (machine_info.infperf.schema is {schema!r}; "
                          f"this pytest-infperf {reads})", restore)
    if schema > SCHEMA:
        raise _fail(path, f"has baseline schema {schema}, newer than this pytest-infperf can read (it {reads})",
                    f"upgrade pytest-infperf (pip install -U pytest-infperf), or move the file away and {_RESAVE}")
    if schema < OLDEST:
        raise _fail(path, f"has baseline schema {schema}, older than this pytest-infperf can read (it {reads})",
                    f"move the file away and {_RESAVE}")
    return schema


def _outcomes(path: Path, data: dict[str, Any], restore: str) -> dict[str, str]:
    """fullname -> status of the cells that ended without timing (schema 2's run-level ``infperf.outcomes``)."""
    run = data.get("infperf")
    if run is None:
        return {}
    outcomes = run.get("outcomes", {}) if isinstance(run, dict) else None
    if not isinstance(outcomes, dict):
        raise _fail(path, "has a malformed run-level 'infperf' object (expected {'outcomes': {fullname: {...}}})",
                    restore)
    found: dict[str, str] = {}
    for fullname, outcome in outcomes.items():
        status = outcome.get("status") if isinstance(outcome, dict) else None
        if not isinstance(status, str) or not status:
            raise _fail(path, f"has an outcome without a 'status' for {fullname}", restore)
        found[fullname] = status
    return found


def numbered_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("[0-9][0-9][0-9][0-9]_*.json") if _NAME.match(p.name))


def select(candidates: Sequence[Path], folder: Path, fingerprint: str, history: int) -> BaselineSet:
    """The newest candidate is compared; up to ``history - 1`` earlier runs saved under its name join it."""
    target = read_run(sorted(candidates, key=lambda p: p.name)[-1], fingerprint)
    same_name = [
        p for p in numbered_files(folder)
        if (m := _NAME.match(p.name)) and m.group(2) == target.name and int(m.group(1)) < target.number
    ]
    earlier = [read_run(p, fingerprint) for p in same_name[-(history - 1):]] if history > 1 else []
    return BaselineSet(tuple(earlier) + (target,))


def other_fingerprints(storage: Path, fingerprint: str) -> list[str]:
    if not storage.is_dir():
        return []
    return sorted(p.name for p in storage.iterdir() if p.is_dir() and p.name != fingerprint and numbered_files(p))
