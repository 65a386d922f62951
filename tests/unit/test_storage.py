"""Direct tests of pytest_infperf.compare.storage: temporary-name rules, run numbers, publishing, install()."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytest_benchmark.storage.file import FileStorage

from pytest_infperf.compare import storage
from pytest_infperf.errors import InfperfError


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str, **kwargs: object) -> None:
        self.lines.append(text)


def _tmp(folder: Path, text: str = "{}") -> Path:
    path = folder / f".x.json{storage.TEMP_MARK}1-abcd"
    path.write_text(text)
    return path


def test_is_temporary_matches_only_dot_files_with_the_mark_or_a_claim() -> None:
    assert storage.is_temporary(f".main.json{storage.TEMP_MARK}123-0a1b2c3d")
    assert storage.is_temporary(f"{storage.CLAIM_PREFIX}0003")
    assert not storage.is_temporary(f"main.json{storage.TEMP_MARK}123-0a1b")  # not hidden: not ours
    assert not storage.is_temporary("0001_main.json")
    assert not storage.is_temporary(storage.LOCK_NAME)  # the lock file stays


def test_remove_stale_removes_only_old_temporary_files(tmp_path: Path) -> None:
    old_tmp = _tmp(tmp_path)
    claim = tmp_path / f"{storage.CLAIM_PREFIX}0001"
    claim.write_text("")
    result = tmp_path / "0001_main.json"
    result.write_text("{}")
    for path in (old_tmp, claim, result):
        os.utime(path, (1000.0, 1000.0))
    # just under an hour later nothing goes; just over, the temporary and the claim go, the result stays
    assert storage.remove_stale(tmp_path, now=1000.0 + storage.STALE_AFTER_S - 1) == []
    removed = storage.remove_stale(tmp_path, now=1000.0 + storage.STALE_AFTER_S + 1)
    assert sorted(p.name for p in removed) == sorted([old_tmp.name, claim.name])
    assert [p.name for p in tmp_path.iterdir()] == ["0001_main.json"]


def test_remove_stale_of_a_missing_folder_is_quiet(tmp_path: Path) -> None:
    assert storage.remove_stale(tmp_path / "absent") == []


def test_used_numbers_reads_four_digit_prefixes_of_json_files_only(tmp_path: Path) -> None:
    for name in ("0001_main.json", "0042_x_y.json", "0003_main.txt", "12_short.json", "00005_long.json",
                 f".0007_main.json{storage.TEMP_MARK}1-ab"):
        (tmp_path / name).write_text("{}")
    assert storage.used_numbers(tmp_path) == {1, 42}


def test_publish_numbered_takes_the_number_after_the_highest_not_a_gap(tmp_path: Path) -> None:
    (tmp_path / "0001_a.json").write_text("{}")
    (tmp_path / "0005_a.json").write_text("{}")
    tmp = _tmp(tmp_path, '{"run": 6}')
    target = storage.publish_numbered(tmp, tmp_path, "main")
    assert target == tmp_path / "0006_main.json"
    assert json.loads(target.read_text()) == {"run": 6}
    assert not tmp.exists()  # the temporary name is gone once published


def test_publish_numbered_refuses_past_9999_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / f"{storage.MAX_NUMBER:04d}_last.json").write_text("{}")
    tmp = _tmp(tmp_path)
    with pytest.raises(InfperfError, match="run numbers are used up to 9999; move old runs out"):
        storage.publish_numbered(tmp, tmp_path, "main")
    assert tmp.exists()  # the caller removes it (AtomicFileStorage.save does)


def test_publish_numbered_with_claim_files_leaves_no_claim_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(storage, "fcntl", None)
    (tmp_path / f"{storage.CLAIM_PREFIX}0001").write_text("")  # another writer holds 0001
    target = storage.publish_numbered(_tmp(tmp_path), tmp_path, "main")
    assert target.name == "0002_main.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{storage.CLAIM_PREFIX}0001", "0002_main.json"]


def test_a_failed_save_removes_its_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(tmp: Path, folder: Path, name: str) -> Path:
        raise InfperfError("full")

    monkeypatch.setattr(storage, "publish_numbered", full)
    fs = storage.AtomicFileStorage(tmp_path, logger=_Log(), default_machine_id="m")
    with pytest.raises(InfperfError, match="full"):
        fs.save({"benchmarks": []}, "main")
    assert list((tmp_path / "m").iterdir()) == []


def test_save_logs_where_it_saved(tmp_path: Path) -> None:
    log = _Log()
    storage.AtomicFileStorage(tmp_path, logger=log, default_machine_id="m").save({"benchmarks": []}, "main")
    assert log.lines == [f"Saved benchmark data in: {tmp_path / 'm' / '0001_main.json'}"]


def test_regular_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with path.open("w") as handle:
        assert storage.regular_file_behind(handle) == Path(os.path.realpath(path))
        moved = tmp_path / "moved.json"
        path.rename(moved)
        assert storage.regular_file_behind(handle) is None  # the name no longer leads to this handle's file
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as pipe:
        assert storage.regular_file_behind(pipe) is None  # a pipe: its name is a number, not a path
    assert storage.regular_file_behind(io.StringIO()) is None  # no name
    assert storage.regular_file_behind(None) is None


def test_install_swaps_plain_file_storage_and_makes_the_json_write_atomic(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    handle = out.open("w")
    log = _Log()
    session = SimpleNamespace(storage=FileStorage(tmp_path / "b", logger=log, default_machine_id="m"), json=handle,
                              logger=log, save_json=None)
    storage.install(session)
    assert type(session.storage) is storage.AtomicFileStorage
    assert session.storage.default_machine_id == "m" and session.storage.logger is log
    inode = out.stat().st_ino
    session.save_json({"benchmarks": [1]})
    assert handle.closed
    assert json.loads(out.read_text()) == {"benchmarks": [1]} and out.stat().st_ino != inode  # renamed into place
    assert log.lines == [f"Wrote benchmark data in: {out}"]


def test_install_leaves_other_storages_and_a_missing_json_alone() -> None:
    other = object()
    session = SimpleNamespace(storage=other, json=None, save_json="original")
    storage.install(session)
    assert session.storage is other and session.save_json == "original"
