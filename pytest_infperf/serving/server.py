"""Server lifecycle, plugin side (stdlib only): start a Triton server through PyTriton in the serving interpreter on
free ports, wait until its models are ready, keep its log, stop it reliably (its whole process group)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .env import child_env
from .results import BatcherSettings

LOG_TAIL_LINES = 40
CEILING_MODEL = "infperf_ceiling"  # the trivial model served beside each model: the client's own ceiling


class ServerError(RuntimeError):
    """The server did not start (or died); ``log_tail`` holds the end of its logs."""

    def __init__(self, message: str, log_tail: tuple[str, ...] = (), hung: bool = False) -> None:
        super().__init__(message + ("\n--- server log (tail) ---\n" + "\n".join(log_tail) if log_tail else ""))
        self.log_tail = log_tail
        self.hung = hung


class Endpoint(Protocol):
    """Something the load generator can talk to: a server we started or one the user named."""

    url: str  # host:port of Triton's gRPC endpoint
    model_name: str

    def alive(self) -> bool: ...

    def log_tail(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class RemoteEndpoint:
    """A server the user runs (``--infperf-triton-url``); we neither start nor stop it."""

    url: str
    model_name: str

    def alive(self) -> bool:
        host, _, port = self.url.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
                return True
        except (OSError, ValueError):
            return False

    def log_tail(self) -> tuple[str, ...]:
        return ()


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    try:
        return tuple(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ()


def model_spec(model: Any, rootdir: Path, seed: int = 0) -> dict[str, Any]:
    """How the served process finds the model factory: a "module:attr" string, or a function by its file."""
    if isinstance(model, str):
        if ":" not in model:
            raise ValueError(f"model={model!r}: serving takes a 'module:attr' string or a function")
        return {"kind": "import", "target": model, "sys_path": [str(rootdir)], "seed": seed}
    module = sys.modules.get(getattr(model, "__module__", ""))
    file = getattr(module, "__file__", None)
    qualname = getattr(model, "__qualname__", "")
    if not file or "<locals>" in qualname:
        raise ValueError(
            f"model={model!r}: the serving process imports the factory by name; define it at module level in a file"
        )
    if module.__name__ != "__main__" and not module.__name__.startswith("test"):
        # An installed or importable module: import it by name, like a "module:attr" string.
        return {"kind": "import", "target": f"{module.__name__}:{qualname}", "sys_path": [str(rootdir)], "seed": seed}
    return {"kind": "file", "file": file, "module": module.__name__, "qualname": qualname,
            "sys_path": [str(Path(file).parent), str(rootdir)], "seed": seed}


class TritonServer:
    """One Triton server (PyTriton) for one model × batcher setting. ``start`` raises ``ServerError`` with the log."""

    def __init__(
        self, python: str, libdir: str, model: dict[str, Any], input_shape: tuple[int, ...],
        batcher: BatcherSettings, log_dir: Path, model_name: str = "infperf_model", backend: str = "auto",
        device: str = "cpu", precision: str = "fp32", clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.python, self.libdir, self.model_name, self.batcher = python, libdir, model_name, batcher
        self.model, self.input_shape, self.backend = model, tuple(input_shape), backend
        self.device, self.precision, self.clock = device, precision, clock
        log_dir.mkdir(parents=True, exist_ok=True)
        self.dir = log_dir
        self.log_path = log_dir / "server.log"
        self.triton_log = log_dir / "tritonserver.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.start_s: float | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout_s: float = 300.0) -> TritonServer:
        grpc, http, metrics = free_ports(3)
        config = {
            "model": self.model, "input_shape": list(self.input_shape), "batcher": self.batcher.to_json(),
            "grpc_port": grpc, "http_port": http, "metrics_port": metrics, "triton_log": str(self.triton_log),
            "model_name": self.model_name, "backend": self.backend, "device": self.device,
            "precision": self.precision,
        }
        config_path, ready = self.dir / "config.json", self.dir / "ready.json"
        ready.unlink(missing_ok=True)
        config_path.write_text(json.dumps(config))
        began = self.clock()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "pytest_infperf.serving.server_main", str(config_path), str(ready)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(self.libdir),
                start_new_session=True,  # its own process group: stop() takes tritonserver and the stubs with it
            )
        while not ready.exists():
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise ServerError(f"Triton server exited ({code}) before its model was ready", self.log_tail())
            if self.clock() - began > timeout_s:
                self.stop()
                raise ServerError(f"Triton server not ready after {timeout_s:g} s (stopped)", self.log_tail(), True)
            time.sleep(0.1)
        self.info = json.loads(ready.read_text())
        self.start_s = self.clock() - began
        self.url = f"127.0.0.1:{grpc}"
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> tuple[str, ...]:
        return tail(self.log_path) + tail(self.triton_log, 15)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM to the group (PyTriton stops Triton cleanly), SIGKILL to what is left after ``grace_s``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group (tritonserver, backend stubs)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> TritonServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
