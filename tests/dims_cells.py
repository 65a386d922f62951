"""Measured cells with named dims (inputs=, dims=), built directly, for the report and recommendation unit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from helpers import cell

from pytest_infperf import inputs
from pytest_infperf.measure.results import CellResult

# ids and a mask whose length is the "seq" dim (the first input's shape shows it), and a callable (shape ())
SPECS = inputs.parse({"input_ids": dict(shape=("seq",), dtype="int64", high=100),
                      "attention_mask": dict(shape=("seq",), dtype="int64", fill=1)},
                     {"seq": [128, 512]}, "sequence", "seq", None, "net")
# a dim the first input's shape does not show
HIDDEN = inputs.parse({"pixels": dict(shape=(3, 8, 8)), "boxes": dict(shape=("boxes", 4))},
                      {"boxes": [10, 100]}, None, None, None, "net")


def _make(batch, dims, generator):
    raise AssertionError("never called: the cells are built, not measured")


CALLABLE = inputs.parse(_make, {"seq": [128, 512]}, "sequence", "seq", None, "net")


def dims_cell(spec: inputs.InputsSpec, dims: Mapping[str, int], backend: str = "torch", batch: int = 1,
              per_image_ms: float = 1.0, **kwargs: object) -> CellResult:
    """A measured cell of a test with ``inputs=`` at these dims' values (id ``...-b1-seq128``)."""
    base = cell(backend, batch, per_image_ms, **kwargs)
    combo = tuple(dims.items())
    case = dataclasses.replace(base.case, dims=combo, inputs=spec, input_shape=spec.first_shape(dict(combo)))
    return dataclasses.replace(base, case=case, nodeid=f"{base.nodeid.partition('[')[0]}[{case.id}]")
