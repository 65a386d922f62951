"""Rendering of serving cells (never deciding): a markdown table laid out like seed 001's (users, requests, time,
dps) plus latency percentiles, the formed batch, Triton's queue/compute split and the client's ceiling."""

from __future__ import annotations

from collections.abc import Sequence

from .results import Outcome, ServingResult


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "—" if value is None else format(value, fmt)


HEADER = ("| batcher | load | requests | time s | inferences/s | p50 ms | p90 ms | p99 ms | mean batch | "
          "formed batches | queue ms | compute ms (in/infer/out) | errors/timeouts | client ceiling req/s | "
          "cold start s | outcome |")


def row(r: ServingResult) -> str:
    batcher = r.batcher.id if r.batcher else "(user's server)"
    if r.load is None:
        return f"| {batcher} | — | — | — | — | — | — | — | — | — | — | — | — | — | — | {r.outcome.value} |"
    load, s = r.load, r.load.stats
    sizes = " ".join(f"{k}:{v}" for k, v in sorted(s.batch_sizes.items()))
    compute = f"{_f(s.compute_input_ms, '.2f')}/{_f(s.compute_infer_ms, '.2f')}/{_f(s.compute_output_ms, '.2f')}"
    return (
        f"| {batcher} | {load.spec.id} | {load.ok} | {load.window_s:g} | {_f(load.inferences_per_s)} | "
        f"{_f(load.percentile_ms(50), '.2f')} | {_f(load.percentile_ms(90), '.2f')} | "
        f"{_f(load.percentile_ms(99), '.2f')} | {_f(s.mean_batch, '.2f')} | {sizes or '—'} | "
        f"{_f(s.queue_ms, '.2f')} | {compute} | {load.errors}/{load.timeouts} | "
        f"{_f(r.ceiling.requests_per_s if r.ceiling else None)} | {_f(load.cold_start_s, '.3f')} | "
        f"{r.outcome.value if r.outcome is not Outcome.OK else 'ok'} |"
    )


def row_text(r: ServingResult) -> str:
    return row(r)


def table(results: Sequence[ServingResult]) -> str:
    sep = "|" + "---|" * (HEADER.count("|") - 1)
    return "\n".join([HEADER, sep, *(row(r) for r in results)])
