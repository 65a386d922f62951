"""Serving cells: a perf test's model served by a real Triton Inference Server (through PyTriton), or a server the
user names by URL, under closed-loop users or open-loop request rates.

The plugin process imports neither PyTriton nor tritonclient: both run in the *serving interpreter* (a separate
environment, see ``env``), because PyTriton needs ``numpy<2`` while the plugin's own environment keeps numpy 2 and
current ``transformers``. Modules ending in ``_main`` run in that interpreter; the others are stdlib-only.
"""
