"""Runs in the serving interpreter: the load generator (tritonclient gRPC asyncio, optionally several processes).

``python -m pytest_infperf.serving.load_main SPEC.json OUT.json``. SPEC: url, model, load (``LoadSpec`` fields),
cold (send one request first and time it). Latencies are measured from a request's *scheduled* start, so an open-loop
client that falls behind shows it as latency instead of hiding it (coordinated omission)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pytest_infperf.artifacts import atomic  # stdlib only, like this package's __init__

DTYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32,
          "INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_}


def make_inputs(meta: dict[str, Any], max_batch: int, batch: int, seed: int, shape_override: list[int] | None):
    import tritonclient.grpc.aio as grpcclient

    rng = np.random.default_rng(seed)
    inputs = []
    for spec in meta["inputs"]:
        dims = [int(d) for d in spec["shape"]]
        if max_batch > 0:
            dims = dims[1:]
        if shape_override and any(d < 0 for d in dims):  # the model's own shape wins where it is fixed
            dims = list(shape_override)
        if any(d < 0 for d in dims):
            raise ValueError(f"input {spec['name']} has a variable shape {spec['shape']}; give the sample shape "
                             "(input_shape=... in the serving marker)")
        full = [batch, *dims] if max_batch > 0 else dims
        dtype = DTYPES[spec["datatype"]]
        if np.issubdtype(dtype, np.floating):
            data = rng.standard_normal(full).astype(dtype)
        else:
            data = rng.integers(0, 100, size=full).astype(dtype)  # random ids in a small valid range, never zeros
        tensor = grpcclient.InferInput(spec["name"], full, spec["datatype"])
        tensor.set_data_from_numpy(data)
        inputs.append((tensor, data))
    return inputs


class SharedInputs:
    """Inputs through Triton's system shared memory: one region per input, written once and registered with the
    server (read-only for every request, so concurrent requests share it); the gRPC message then carries only the
    region's name. Removed from the server and the host on ``close``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.handles: list[tuple[str, Any]] = []

    async def bind(self, client: Any, inputs: list[tuple[Any, np.ndarray]]) -> list[Any]:
        import tritonclient.utils.shared_memory as shm

        tensors = []
        for i, (tensor, data) in enumerate(inputs):
            name = f"infperf-{self.tag}-{i}"
            handle = shm.create_shared_memory_region(name, f"/{name}", data.nbytes)
            self.handles.append((name, handle))
            shm.set_shared_memory_region(handle, [np.ascontiguousarray(data)])
            await client.register_system_shared_memory(name, f"/{name}", data.nbytes)
            tensor.set_shared_memory(name, data.nbytes)
            tensors.append(tensor)
        return tensors

    async def close(self, client: Any) -> None:
        import tritonclient.utils.shared_memory as shm

        for name, handle in self.handles:
            try:
                await client.unregister_system_shared_memory(name)
            finally:
                shm.destroy_shared_memory_region(handle)
        self.handles.clear()


def is_timeout(exc: BaseException) -> bool:
    text = f"{getattr(exc, 'status', lambda: '')()} {exc}".upper()
    return "DEADLINE" in text or "TIMEOUT" in text or "TIMED OUT" in text


async def run_part(task: dict[str, Any], start_at: float) -> dict[str, Any]:
    """One process's share: ``users`` closed-loop coroutines or Poisson arrivals at ``rate``."""
    import tritonclient.grpc.aio as grpcclient

    load = task["load"]
    client = grpcclient.InferenceServerClient(task["url"])
    meta = await client.get_model_metadata(task["model"], as_json=True)
    config = (await client.get_model_config(task["model"], as_json=True))["config"]
    made = make_inputs(meta, int(config.get("max_batch_size", 0)), load["batch"], task["seed"], task.get("shape"))
    shared = SharedInputs(f"{os.getpid()}-{task['seed']}") if load.get("shm") else None
    try:
        inputs = await shared.bind(client, made) if shared else [tensor for tensor, _ in made]
        timeout = load["timeout_s"]
        t0 = start_at + load["warmup_s"]
        t1 = t0 + load["duration_s"]
        lat: list[float] = []
        counts = {"ok": 0, "errors": 0, "timeouts": 0, "dropped": 0}
        sample: list[str] = []

        async def one(scheduled: float) -> None:
            try:
                await client.infer(task["model"], inputs, client_timeout=timeout)
            except Exception as exc:  # every failure is counted; the first one is kept as a sample
                end = time.monotonic()
                if t0 <= end <= t1:
                    counts["timeouts" if is_timeout(exc) else "errors"] += 1
                    if not sample:
                        sample.append(f"{type(exc).__name__}: {exc}"[:500])
                return
            end = time.monotonic()
            if t0 <= end <= t1:
                counts["ok"] += 1
                lat.append(end - scheduled)

        while time.monotonic() < start_at:
            await asyncio.sleep(min(0.05, start_at - time.monotonic()))
        if load["rate"] > 0:
            rng = np.random.default_rng(task["seed"] + 1)
            pending: set[asyncio.Task[None]] = set()
            at = start_at
            while True:
                at += rng.exponential(1.0 / load["rate"])
                if at >= t1:
                    break
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(pending) >= load["max_outstanding"]:
                    counts["dropped"] += t0 <= at
                    continue
                fut = asyncio.ensure_future(one(at))
                pending.add(fut)
                fut.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending, timeout=timeout + 1)
        else:
            async def user() -> None:
                while time.monotonic() < t1:
                    await one(time.monotonic())

            await asyncio.gather(*(user() for _ in range(task["users"])))
    finally:  # the shared-memory regions never outlive the load, whatever ended it
        if shared:
            await shared.close(client)
        await client.close()
    return {"latencies_s": lat, **counts, "error_sample": sample[0] if sample else ""}


def part_main(task: dict[str, Any], start_at: float, queue: Any) -> None:
    try:
        queue.put(asyncio.run(run_part(task, start_at)))
    except BaseException as exc:  # noqa: BLE001 (reported to the parent, which fails the load)
        queue.put({"fatal": f"{type(exc).__name__}: {exc}"})


async def statistics(url: str, model: str) -> dict[str, Any]:
    import tritonclient.grpc.aio as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        stats = await client.get_inference_statistics(model, as_json=True)
    finally:
        await client.close()
    for entry in stats.get("model_stats", []):
        if entry.get("name") == model:
            return entry
    return {}


def stats_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    def n(d: dict[str, Any], *path: str) -> int:
        for key in path:
            d = d.get(key, {}) if isinstance(d, dict) else {}
        return int(d) if d else 0  # int64 fields come as strings in JSON

    req = n(after, "inference_stats", "success", "count") - n(before, "inference_stats", "success", "count")

    def mean_ms(part: str) -> float | None:
        ns = n(after, "inference_stats", part, "ns") - n(before, "inference_stats", part, "ns")
        return ns / req / 1e6 if req else None

    sizes: dict[int, int] = {}
    old = {int(b["batch_size"]): n(b, "compute_infer", "count") for b in before.get("batch_stats", [])}
    for b in after.get("batch_stats", []):
        size = int(b["batch_size"])
        count = n(b, "compute_infer", "count") - old.get(size, 0)
        if count:
            sizes[size] = count
    return {
        "requests": req, "inferences": n(after, "inference_count") - n(before, "inference_count"),
        "executions": n(after, "execution_count") - n(before, "execution_count"),
        "queue_ms": mean_ms("queue"), "compute_input_ms": mean_ms("compute_input"),
        "compute_infer_ms": mean_ms("compute_infer"), "compute_output_ms": mean_ms("compute_output"),
        "batch_sizes": {str(k): v for k, v in sorted(sizes.items())},
    }


async def cold_request(task: dict[str, Any]) -> float:
    import tritonclient.grpc.aio as grpcclient

    client = grpcclient.InferenceServerClient(task["url"])
    try:
        meta = await client.get_model_metadata(task["model"], as_json=True)
        config = (await client.get_model_config(task["model"], as_json=True))["config"]
        inputs = [tensor for tensor, _ in make_inputs(meta, int(config.get("max_batch_size", 0)),
                                                      task["load"]["batch"], task["seed"], task.get("shape"))]
        began = time.monotonic()
        await client.infer(task["model"], inputs, client_timeout=task["load"]["timeout_s"])
        return time.monotonic() - began
    finally:
        await client.close()


def main(spec_path: str, out_path: str) -> int:
    task = json.load(open(spec_path))
    load = task["load"]
    out: dict[str, Any] = {"cold_start_s": None}
    cold_error = ""
    if task.get("cold"):
        try:
            out["cold_start_s"] = asyncio.run(cold_request(task))
        except Exception as exc:  # a cold request that fails or times out is reported, the load still runs
            cold_error = f"first request: {type(exc).__name__}: {exc}"[:500]
    procs = max(1, min(load["procs"], load["users"] if load["rate"] <= 0 else load["procs"]))
    users = [load["users"] // procs + (i < load["users"] % procs) for i in range(procs)]
    parts = [{**task, "users": users[i], "seed": task["seed"] + 1000 * i,
              "load": {**load, "rate": load["rate"] / procs}} for i in range(procs)]
    want_stats = task.get("stats", True)

    async def at_window_start(start_at: float) -> dict[str, Any]:
        # Triton's counters read when the measured window opens (after the warm-up), not before the warm-up
        await asyncio.sleep(max(0.0, start_at + load["warmup_s"] - time.monotonic()))
        return await statistics(task["url"], task["model"])

    before: dict[str, Any] = {}
    if procs == 1:
        start_at = time.monotonic() + 0.05

        async def one_process() -> dict[str, Any]:
            nonlocal before
            if not want_stats:
                return await run_part(parts[0], start_at)
            part, before = await asyncio.gather(run_part(parts[0], start_at), at_window_start(start_at))
            return part

        results = [asyncio.run(one_process())]
    else:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        start_at = time.monotonic() + 2.0  # CLOCK_MONOTONIC is system-wide: one start for all processes
        workers = [ctx.Process(target=part_main, args=(p, start_at, queue)) for p in parts]
        for w in workers:
            w.start()
        before = asyncio.run(at_window_start(start_at)) if want_stats else {}
        results = [queue.get() for _ in workers]
        for w in workers:
            w.join()
        fatal = [r["fatal"] for r in results if "fatal" in r]
        if fatal:
            raise RuntimeError("; ".join(fatal))
    after = asyncio.run(statistics(task["url"], task["model"])) if want_stats else {}
    out.update(
        window_s=load["duration_s"],
        latencies_s=[x for r in results for x in r["latencies_s"]],
        error_sample=next((r["error_sample"] for r in results if r["error_sample"]), cold_error),
        stats=stats_diff(before, after) if after else {},
        **{k: sum(r[k] for r in results) for k in ("ok", "errors", "timeouts", "dropped")},
    )
    atomic.write_bytes(Path(out_path), json.dumps(out).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
