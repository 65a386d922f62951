"""pytest_infperf.artifacts.atomic: the one helper that writes files beside their target and renames them."""

from __future__ import annotations

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
