"""The serving interpreter: where PyTriton, tritonclient (and the served model's framework) live.

PyTriton 0.7 needs ``numpy<2`` (with numpy 2 every request fails) and tritonclient pins protobuf 6, while the plugin's
environment keeps numpy 2, protobuf 7 (onnx) and current transformers (which numpy 1.26 breaks). So the server and the
load generator run as child processes of a separate interpreter — by default ``.venv-serving/bin/python`` under the
rootdir — and talk to the plugin through JSON files. The plugin process never imports either library."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

INSTALL_HINT = (
    "python3 -m venv .venv-serving && .venv-serving/bin/pip install nvidia-pytriton==0.7.0 "
    "torch==2.14.1 pytest  (or point --infperf-serving-python at an interpreter that has nvidia-pytriton)"
)
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def default_python(rootdir: Path) -> str:
    venv = rootdir / ".venv-serving" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@functools.lru_cache(maxsize=8)
def probe(python: str) -> tuple[str | None, str]:
    """(None, libpython dir) when ``python`` can import PyTriton and tritonclient, else (why not, "")."""
    code = (
        "import sysconfig, pytriton, tritonclient.grpc.aio, numpy;"
        "assert int(numpy.__version__.split('.')[0]) < 2, 'numpy ' + numpy.__version__ + ' (PyTriton needs numpy<2)';"
        "print(sysconfig.get_config_var('LIBDIR'))"
    )
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"serving interpreter {python!r} does not run ({exc})", ""
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"serving interpreter {python!r} lacks PyTriton/tritonclient ({last})", ""
    return None, proc.stdout.strip()


def child_env(libdir: str) -> dict[str, str]:
    """The serving children's environment: our package importable, and the interpreter's libpython findable (the
    Python-backend stub of a pyenv interpreter does not find it otherwise and the model fails to load with
    ``'_thread.RLock' object has no attribute '_recursion_count'``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p)
    if libdir:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
