"""The backend plug-in point: one Protocol for a backend, one for the loaded session it returns."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ..artifacts.models import ModelSource
    from ..matrix import Case
    from ..measure.timing import BlockTimer


@runtime_checkable
class Session(Protocol):
    """A model loaded for one cell, inputs bound. A context manager: ``close`` releases device memory."""

    def run(self) -> object:
        """One inference on the bound inputs. May return before the device is done."""
        ...

    def synchronize(self) -> None:
        """Block until all work queued by ``run`` has finished."""
        ...

    def block_timer(self) -> BlockTimer:
        """How a block of ``run`` calls is timed: host clock plus ``synchronize`` on CPU, CUDA events on a GPU."""
        ...

    def output(self) -> np.ndarray:
        """The last run's output on the host as float32 (for correctness checks, never inside the timed loop)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Turns a model into a runnable `Session` for a `Case`. Imports its heavy library lazily, inside its methods."""

    name: str

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        """None when the cell can run here; otherwise why not and how to fix it (the cell is skipped)."""
        ...

    def prepare(self, source: ModelSource) -> None:
        """Work shared by all cells of a model that is not any cell's cold start (e.g. building the torch module,
        importing the backend's library: `import_library`)."""
        ...

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> Session:
        """Build/compile/load the model for the cell and bind ``inputs``. Its time is the cell's cold start."""
        ...

    def versions(self) -> dict[str, str]:
        """Library versions that affect this backend's numbers (recorded with each cell)."""
        ...


def import_library(name: str) -> None:
    """Import a backend's library before a cell's cold start is timed (from ``Backend.prepare``): the import is paid
    once per process, so inside ``load`` it fell into the cold start of whichever cell of the process came first
    (onnxruntime on the CI VM: 79-148 ms in a fresh interpreter, 22-32 ms after torch). A missing library (or one
    that fails to import) is left for ``load`` to report."""
    with contextlib.suppress(Exception):
        importlib.import_module(name)
