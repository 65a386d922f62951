"""Files that a crash or a second writer cannot leave half-written: the one place that writes beside a target and
renames. Baselines (``storage``), ``--benchmark-json``, engine and quantization caches, ONNX exports and saved
torch-tensorrt programs all go through here.

Temporary names start with a dot and end in ``.tmp-<pid>-<token>``: neither pytest-benchmark's ``*.json`` globs nor a
cache lookup ever match them, and a writer killed mid-write leaves a file that readers ignore.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


def temp_path(target: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside ``target`` (``suffix`` for tools that choose a format by extension)."""
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def unlink_quietly(path: Path | str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def fsync_dir(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable. Best effort: Windows cannot open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_temp(target: Path, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to a new temporary file beside ``target`` and fsync it; returns its path."""
    tmp = temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return tmp


def write_bytes(target: Path, data: bytes) -> None:
    """Create or replace ``target`` with ``data`` in one step (its folder is created; an existing file keeps its
    permissions): a reader, or a concurrent session, sees no file, the old file or the whole new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None
    tmp = write_temp(target, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(target.parent)


@contextlib.contextmanager
def replacing(target: Path, suffix: str = "") -> Iterator[Path]:
    """For a file another library writes (``torch.onnx.export``, ``torch_tensorrt.save``): yields a temporary path
    beside ``target``; when the block succeeds it replaces ``target``, when it raises it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        unlink_quietly(tmp)
