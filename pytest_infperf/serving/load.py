"""Load generation, plugin side: runs ``load_main`` in the serving interpreter and reads back a ``LoadResult``."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from .env import child_env
from .results import LoadResult, LoadSpec, TritonStats
from .server import tail


class LoadError(RuntimeError):
    def __init__(self, message: str, hung: bool = False) -> None:
        super().__init__(message)
        self.hung = hung


def run_load(
    python: str, libdir: str, url: str, model: str, spec: LoadSpec, workdir: Path, *, cold: bool = False,
    shape: tuple[int, ...] | None = None, seed: int = 0, stats: bool = True,
) -> LoadResult:
    """One load against ``url``/``model``. Raises ``LoadError`` when the generator fails or overruns its time."""
    workdir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    spec_path, out_path, log_path = (workdir / f"load-{tag}.{ext}" for ext in ("json", "out.json", "log"))
    spec_path.write_text(json.dumps({"url": url, "model": model, "load": spec.to_json(), "cold": cold,
                                     "shape": list(shape) if shape else None, "seed": seed, "stats": stats}))
    limit = spec.warmup_s + spec.duration_s + 2 * spec.timeout_s + 60 + (spec.timeout_s if cold else 0)
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run(
                [python, "-m", "pytest_infperf.serving.load_main", str(spec_path), str(out_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(libdir), timeout=limit,
            )
        except subprocess.TimeoutExpired:
            raise LoadError(f"load generator did not finish in {limit:g} s", hung=True) from None
    if proc.returncode != 0 or not out_path.exists():
        raise LoadError(f"load generator failed ({proc.returncode}):\n" + "\n".join(tail(log_path, 20)))
    data = json.loads(out_path.read_text())
    for path in (spec_path, out_path, log_path):
        path.unlink(missing_ok=True)
    return LoadResult(
        spec=spec, window_s=data["window_s"], ok=data["ok"], errors=data["errors"], timeouts=data["timeouts"],
        dropped=data["dropped"], latencies_s=tuple(data["latencies_s"]),
        stats=TritonStats.from_json(data["stats"]) if data["stats"] else TritonStats(),
        cold_start_s=data.get("cold_start_s"), error_sample=data.get("error_sample", ""),
    )
