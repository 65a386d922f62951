"""pytest-infperf: a pytest plugin and regression gate for deep-learning inference performance.

Importing this package is cheap on purpose: torch, onnxruntime and friends are imported only by the backend that
needs them, when a cell runs.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
