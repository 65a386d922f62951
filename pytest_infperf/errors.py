"""Exception types. Each message names the problem and the fix; callers chain the cause."""

from __future__ import annotations

import pytest


class InfperfError(Exception):
    """Base class for errors raised by pytest-infperf."""


class ModelError(InfperfError):
    """The model named in ``@pytest.mark.infperf`` cannot be found, imported or built."""


class BaselineError(pytest.UsageError):
    """A stored baseline cannot be used (corrupt, truncated, other schema, other machine). Usage error: exit 4."""
