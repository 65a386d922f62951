"""Rendering of serving cells (never deciding): a markdown table laid out like seed 001's (users, requests, time,
dps) plus latency percentiles, the formed batch, Triton's queue/compute split and the client's ceiling. Numbers and
the table itself come from report.fmt, like every other table."""

from __future__ import annotations

from collections.abc import Sequence

from ..report.fmt import MISSING, fmt_number, markdown_table
from .results import Outcome, ServingResult

HEADERS = ("model", "served", "batcher", "load", "requests", "time s", "inferences/s", "p50 ms", "p90 ms", "p99 ms",
           "mean batch", "formed batches", "queue ms", "compute ms (in/infer/out)", "errors/timeouts",
           "client ceiling req/s", "cold start s", "outcome")


def cells(r: ServingResult) -> list[str]:
    """One serving cell's row, a text per column of `HEADERS`."""
    batcher = r.batcher.id if r.batcher else "(user's server)"
    served = r.served or MISSING
    if r.load is None:
        return [r.model, served, batcher, *[MISSING] * (len(HEADERS) - 4), r.outcome.value]
    load, s = r.load, r.load.stats
    sizes = " ".join(f"{k}:{v}" for k, v in sorted(s.batch_sizes.items()))
    compute = "/".join(fmt_number(ms, ".2f") for ms in (s.compute_input_ms, s.compute_infer_ms, s.compute_output_ms))
    return [
        r.model, served, batcher, load.spec.id, str(load.ok), fmt_number(load.window_s, "g"),
        fmt_number(load.inferences_per_s),
        *(fmt_number(load.percentile_ms(p), ".2f") for p in (50, 90, 99)), fmt_number(s.mean_batch, ".2f"),
        sizes or MISSING, fmt_number(s.queue_ms, ".2f"), compute, f"{load.errors}/{load.timeouts}",
        fmt_number(r.ceiling.requests_per_s if r.ceiling else None), fmt_number(load.cold_start_s, ".3f"),
        r.outcome.value if r.outcome is not Outcome.OK else "ok",
    ]


def row(r: ServingResult) -> str:
    return markdown_table(HEADERS, [cells(r)], escape=True)[-1]


def table(results: Sequence[ServingResult]) -> str:
    return "\n".join(markdown_table(HEADERS, [cells(r) for r in results], escape=True))
