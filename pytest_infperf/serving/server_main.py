"""Runs in the serving interpreter: serve one model (and the trivial ceiling model) through PyTriton until SIGTERM.

``python -m pytest_infperf.serving.server_main CONFIG.json READY.json``: CONFIG names the model, the batcher and the
ports; READY is written (atomically) once Triton reports both models ready."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from pytest_infperf.artifacts import atomic  # stdlib only, like this package's __init__
from pytest_infperf.serving.server import CEILING_MODEL  # noqa: E402


def main(config_path: str, ready_path: str) -> int:
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    from pytest_infperf.serving import served

    cfg = json.loads(Path(config_path).read_text())
    started = time.monotonic()
    model = served.build(cfg["model"])
    backend = served.pick(model, cfg.get("backend", "auto"))
    shape = tuple(cfg["input_shape"])
    infer = backend.load(model, served.Serve(
        device=cfg.get("device", "cpu"), precision=cfg.get("precision", "fp32"), input_shape=shape,
        max_batch=cfg["batcher"]["max_batch"], workdir=Path(cfg["triton_log"]).parent))
    probe_out = infer(np.random.default_rng(0).standard_normal((1, *shape), dtype=np.float32))
    out_shape = tuple(probe_out.shape[1:])
    print(f"infperf: model built with backend {backend.name}: input {shape} -> output {out_shape}", flush=True)

    def model_fn(call):  # one closure per instance
        @batch
        def fn(INPUT__0):  # noqa: N803 (Triton's tensor name)
            return {"OUTPUT__0": call(INPUT__0).astype(np.float32, copy=False)}

        return fn

    @batch
    def ceiling_fn(INPUT__0):  # noqa: N803
        return {"OUTPUT__0": INPUT__0.reshape(len(INPUT__0), -1)[:, :1]}

    b = cfg["batcher"]
    model_config = ModelConfig(
        max_batch_size=b["max_batch"],
        batcher=DynamicBatcher(
            max_queue_delay_microseconds=b["queue_delay_us"], preferred_batch_size=list(b["preferred"]) or None
        ),
    )
    triton_config = TritonConfig(
        grpc_port=cfg["grpc_port"], http_port=cfg["http_port"], metrics_port=cfg["metrics_port"],
        grpc_address="127.0.0.1", http_address="127.0.0.1", log_file=Path(cfg["triton_log"]), log_verbose=0,
        allow_metrics=False,
    )
    # Statistics stay open to the local client (PyTriton protects them by default with a token).
    security = TritonSecurityConfig(restricted_endpoints=["model-repository", "trace", "logging"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # A short workspace: PyTriton puts AF_UNIX sockets there (108 bytes at most; pytest's tmp paths are longer).
    parent = tempfile.mkdtemp(prefix="ipf-", dir="/tmp")
    workspace = os.path.join(parent, "w")  # PyTriton creates it and removes it in stop()
    triton = Triton(config=triton_config, security_config=security, workspace=workspace)
    try:
        tensor_in = [Tensor(name="INPUT__0", dtype=np.float32, shape=shape)]
        triton.bind(
            model_name=cfg["model_name"], infer_func=[model_fn(infer) for _ in range(b["instances"])],
            inputs=tensor_in, outputs=[Tensor(name="OUTPUT__0", dtype=np.float32, shape=out_shape)],
            config=model_config, strict=True,
        )
        triton.bind(
            model_name=CEILING_MODEL, infer_func=ceiling_fn, inputs=tensor_in,
            outputs=[Tensor(name="OUTPUT__0", dtype=np.float32, shape=(1,))], config=model_config,
        )
        triton.run()
        atomic.write_bytes(Path(ready_path), json.dumps({
            "pid": os.getpid(), "start_s": time.monotonic() - started, "backend": backend.name,
            "output_shape": list(out_shape)}).encode())
        print("infperf: server ready", flush=True)
        while not stop.wait(0.5):
            if not triton.is_alive():
                print("infperf: Triton is no longer alive", flush=True)
                return 3
        return 0
    finally:
        triton.stop()
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
