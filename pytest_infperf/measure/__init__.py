"""Measuring a cell: the runner, the timing loop, memory, concurrency, max batch, the worker process and the frozen
results they produce. Imports no torch."""
