"""Baseline writes that a crash or a second writer cannot corrupt or lose.

A save writes the whole file under a temporary name beside its target, fsyncs it, publishes it under its final name
with a hard link (which never replaces an existing file; a rename where the file system has no hard links) and
fsyncs the folder: a reader sees no file or the complete file, never a part of one. The run number ``NNNN`` is
chosen while holding an exclusive ``flock`` on a lock file in the machine folder, so two sessions saving at once get
different numbers; where ``flock`` is unavailable a writer claims its number by creating ``.infperf-claim-NNNN`` with
``O_CREAT | O_EXCL`` instead. A name that exists is never overwritten: the next number is taken.

Temporary names start with a dot and end in ``.tmp-<pid>-<token>``, so neither pytest-benchmark's ``*.json`` globs
nor ``NNNN_*.json`` ever match them: a writer killed mid-write leaves a file that readers ignore and that later saves
remove once it is an hour old.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_benchmark.storage.file import FileStorage
from pytest_benchmark.utils import safe_dumps

from ..artifacts.atomic import TEMP_MARK, fsync_dir, unlink_quietly, write_temp
from ..artifacts.atomic import write_bytes as atomic_write
from ..errors import InfperfError

try:
    import fcntl
except ImportError:  # Windows: numbers are claimed with O_EXCL files instead
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".infperf-save.lock"
CLAIM_PREFIX = ".infperf-claim-"
STALE_AFTER_S = 3600.0  # a writer holds a temporary or claim file for well under a second
MAX_NUMBER = 9999  # pytest-benchmark's globs match four digits only
_NUMBERED = re.compile(r"^(\d{4})_.*\.json$")


def is_temporary(name: str) -> bool:
    """A file of ours that is not (or not yet) a result: in-flight or abandoned temporary files and claims."""
    return name.startswith(".") and (TEMP_MARK in name or name.startswith(CLAIM_PREFIX))


def remove_stale(folder: Path, now: float | None = None) -> list[Path]:
    """Remove temporary and claim files older than an hour (left by killed writers); returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not is_temporary(entry.name):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def used_numbers(folder: Path) -> set[int]:
    return {int(m.group(1)) for name in os.listdir(folder) if (m := _NUMBERED.match(name))}


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[bool]:
    """Hold the folder's save lock. Yields False where flock is unavailable: the caller then claims numbers."""
    if fcntl is None:
        yield False
        return
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, and by the kernel if this process dies
            locked = True
        except OSError:  # e.g. some network or FUSE file systems
            locked = False
        yield locked
    finally:
        os.close(fd)


def _claim(folder: Path, number: int) -> Path | None:
    claim = folder / f"{CLAIM_PREFIX}{number:04d}"
    try:
        os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        return None
    # A writer publishes before it drops its claim, so a number published while we looked is visible now.
    if number in used_numbers(folder):
        unlink_quietly(claim)
        return None
    return claim


def _publish(tmp: Path, target: Path) -> bool:
    """Give ``tmp`` the name ``target`` unless that name exists (then False). Never replaces a file."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        return False
    except OSError:  # no hard links here; the caller holds the number, so no cooperating writer races this check
        if os.path.lexists(target):
            return False
        os.replace(tmp, target)
        return True
    unlink_quietly(tmp)
    return True


def publish_numbered(tmp: Path, folder: Path, name: str) -> Path:
    """Publish the complete file ``tmp`` as ``folder/NNNN_<name>.json`` with the next free number."""
    with _folder_lock(folder) as locked:
        number = max(used_numbers(folder), default=0) + 1
        while number <= MAX_NUMBER:
            claim = None if locked else _claim(folder, number)
            if locked or claim is not None:
                target = folder / f"{number:04d}_{name}.json"
                try:
                    if _publish(tmp, target):
                        fsync_dir(folder)
                        return target
                finally:
                    if claim is not None:
                        unlink_quietly(claim)
            number += 1
    raise InfperfError(
        f"{folder}: run numbers are used up to {MAX_NUMBER:04d}; move old runs out of this folder (they are "
        "only needed as history) and save again"
    )


class AtomicFileStorage(FileStorage):
    """pytest-benchmark's FileStorage whose saves are atomic, never overwrite and get distinct run numbers."""

    def save(self, output_json: dict[str, Any], save: str) -> None:
        folder = Path(self.get(""))
        data = safe_dumps(output_json, ensure_ascii=True, indent=4).encode()
        remove_stale(folder)
        tmp = write_temp(folder / f"{save}.json", data)
        try:
            target = publish_numbered(tmp, folder, save)
        except BaseException:
            unlink_quietly(tmp)
            raise
        self.logger.info(f"Saved benchmark data in: {target}")


def install(bench_session: Any) -> None:
    """Make a pytest-benchmark session's saves (file storage only) and its --benchmark-json write atomic."""
    storage = bench_session.storage
    if type(storage) is FileStorage:
        bench_session.storage = AtomicFileStorage(
            storage.path, logger=storage.logger, default_machine_id=storage.default_machine_id
        )
    handle = getattr(bench_session, "json", None)
    path = regular_file_behind(handle)
    if path is None:
        return

    def save_json(output_json: dict[str, Any]) -> None:
        handle.close()  # argparse opened (and truncated) it; the new content arrives in one rename
        atomic_write(path, safe_dumps(output_json, ensure_ascii=True, indent=4).encode())
        bench_session.logger.info(f"Wrote benchmark data in: {path}", purple=True)

    bench_session.save_json = save_json


def regular_file_behind(handle: Any) -> Path | None:
    """The path of the regular file ``handle`` writes to, or None (stdout, a pipe, a path that moved since)."""
    name = getattr(handle, "name", None)
    if not isinstance(name, str):
        return None
    try:
        path = Path(os.path.realpath(name))
        if not path.is_file() or not os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            return None
    except (OSError, ValueError):
        return None
    return path
