"""Hooks other plugins (or a conftest) implement to extend pytest-infperf."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pluggy import HookspecMarker

if TYPE_CHECKING:
    from .backends.base import Backend

hookspec = HookspecMarker("pytest")


@hookspec
def pytest_infperf_backend_names(config: pytest.Config) -> list[str]:
    """Names of extra backends this plugin provides, so that ``--infperf-backends`` accepts them."""


@hookspec(firstresult=True)
def pytest_infperf_make_backend(config: pytest.Config, name: str) -> Backend | None:
    """Make the backend called ``name``; return None to let the next implementation (finally the built-ins) try."""


@hookspec
def pytest_infperf_fingerprint(config: pytest.Config) -> dict[str, str]:
    """Extra fields for the machine fingerprint (anything that makes runs incomparable when it changes)."""
