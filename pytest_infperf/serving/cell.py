"""One serving cell: a load (and the client's ceiling) against a server, with the server's fate as the outcome, and
the SLO search (highest Poisson request rate whose p99 stays under the objective)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .load import LoadError, run_load
from .results import LoadResult, LoadSpec, Outcome, ServingResult
from .server import CEILING_MODEL, Endpoint, TritonServer


def measure(
    python: str, libdir: str, endpoint: Endpoint, spec: LoadSpec, workdir: Path, *, model: str,
    cold: bool = False, ceiling: bool = True, shape: tuple[int, ...] | None = None, slo_ms: float | None = None,
    repeats: int = 1,
) -> ServingResult:
    """Run ``spec`` against ``endpoint`` ``repeats`` times, one window after the other (the first on a fresh server
    takes the cold start); a server that dies or a load that hangs is this cell's outcome. The result's ``load`` is
    the repeat with the highest throughput (the gate's fastest-repeat estimator), ``repeats`` all of them."""
    started = isinstance(endpoint, TritonServer)
    base = ServingResult(model=model, url=endpoint.url, batcher=endpoint.batcher if started else None,
                         outcome=Outcome.OK, start_s=endpoint.start_s if started else None)
    try:
        loads = [run_load(python, libdir, endpoint.url, endpoint.model_name, spec, workdir, cold=cold and i == 0,
                          shape=shape) for i in range(max(1, repeats))]
        load = replace(max(loads, key=lambda r: r.requests_per_s), cold_start_s=loads[0].cold_start_s)
        roof = (run_load(python, libdir, endpoint.url, CEILING_MODEL, spec, workdir, shape=shape)
                if ceiling and started else None)
        probes: tuple[tuple[float, float | None], ...] = ()
        slo_rate = None
        if slo_ms is not None:
            slo_rate, probes = slo_search(python, libdir, endpoint, spec, workdir, slo_ms, load, shape)
    except LoadError as exc:
        outcome = Outcome.CRASHED if not endpoint.alive() else Outcome.HUNG if exc.hung else None
        if outcome is None:
            raise
        return replace(base, outcome=outcome, log_tail=(str(exc), *endpoint.log_tail()))
    if not endpoint.alive():
        return replace(base, outcome=Outcome.CRASHED, load=load, repeats=tuple(loads), log_tail=endpoint.log_tail())
    return replace(base, load=load, repeats=tuple(loads), ceiling=roof, slo_ms=slo_ms, slo_rate=slo_rate,
                   slo_probes=probes)


def slo_search(
    python: str, libdir: str, endpoint: Endpoint, spec: LoadSpec, workdir: Path, slo_ms: float,
    closed: LoadResult, shape: tuple[int, ...] | None, steps: int = 5,
) -> tuple[float | None, tuple[tuple[float, float | None], ...]]:
    """Bisection on the open-loop rate (as MLPerf's Server scenario searches its QPS): the upper bound starts at
    1.2 × the closed-loop throughput (a rate the server cannot sustain), the lower at 0. A probe passes when its p99 is
    under ``slo_ms`` and no request failed or was dropped."""
    low, high = 0.0, max(1.0, 1.2 * closed.requests_per_s)
    probes: list[tuple[float, float | None]] = []
    for _ in range(steps):
        rate = (low + high) / 2
        probe = replace(spec, rate=rate, users=1)
        result = run_load(python, libdir, endpoint.url, endpoint.model_name, probe, workdir, shape=shape, stats=False)
        p99 = result.percentile_ms(99)
        probes.append((rate, p99))
        ok = p99 is not None and p99 <= slo_ms and not (result.errors or result.timeouts or result.dropped)
        low, high = (rate, high) if ok else (low, rate)
    return (low or None), tuple(probes)
