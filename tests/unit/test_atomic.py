"""pytest_infperf.artifacts.atomic: the one helper that writes files beside their target and renames them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_infperf.artifacts import atomic


def test_write_bytes_creates_replaces_and_keeps_permissions(tmp_path):
    target = tmp_path / "sub" / "engine.plan"
    atomic.write_bytes(target, b"one")
    target.chmod(0o640)
    atomic.write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["engine.plan"]  # no temporary file left


def test_replacing_publishes_only_a_finished_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.replacing(target, suffix=".onnx") as tmp:
        assert tmp.name.startswith(".model.onnx" + atomic.TEMP_MARK) and tmp.suffix == ".onnx"
        tmp.write_bytes(b"half")
        raise RuntimeError("export failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    with atomic.replacing(target, suffix=".onnx") as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_files_are_replaced_only_through_this_module():
    """No module hand-rolls tmp + os.replace (the serving interpreter's load_main and server_main did): a fixed
    ``.tmp`` name is neither unique per writer nor ignored by readers' globs, and skips the fsyncs."""
    package = Path(atomic.__file__).parents[1]
    allowed = {"artifacts/atomic.py",
               "compare/storage.py"}  # publishes without replacing (os.link), os.replace only where links fail
    offenders = [str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
                 if str(path.relative_to(package)) not in allowed and "os.replace(" in path.read_text()]
    assert offenders == []


def test_the_serving_interpreter_can_import_it_without_heavy_modules():
    # load_main and server_main run in the serving interpreter (its own venv): the helper must stay stdlib-only
    code = ("import sys; import pytest_infperf.artifacts.atomic; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'torch', 'onnxruntime', 'pytest')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[2])})
    assert out.stdout.strip() == "[]"
