"""Safe baselines: atomic saves, concurrent writers, a writer killed mid-write, stale temporary files, schemas."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import FAKE_ARGS, load_json, run_fake, saved_files

import pytest_infperf
from pytest_infperf.compare import baseline, storage
from pytest_infperf.errors import BaselineError

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="kills a writer with SIGKILL")
TESTS = Path(__file__).parent.parent  # tests/: helpers, the fake backend
PACKAGE_ROOT = Path(pytest_infperf.__file__).parent.parent


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str, **kwargs: object) -> None:
        self.lines.append(text)


def _storage(folder: Path, machine: str = "machine") -> storage.AtomicFileStorage:
    return storage.AtomicFileStorage(folder, logger=_Log(), default_machine_id=machine)


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _fake_baseline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, runs: int = 1) -> list[Path]:
    for index in range(runs):
        monkeypatch.setenv("INFPERF_FAKE_RUN", str(100 + index))
        assert run_fake(pytester, "--benchmark-save=main").ret == 0
    return saved_files(pytester.path)


# --- run numbers under contention -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lock", ["flock", "claim-files"])
def test_simultaneous_saves_get_distinct_numbers_and_all_survive(tmp_path, monkeypatch, lock):
    if lock == "claim-files":
        monkeypatch.setattr(storage, "fcntl", None)  # as on Windows: numbers are claimed with O_EXCL files
    counted = storage.used_numbers

    def slow_count(folder: Path) -> set[int]:
        found = counted(folder)
        time.sleep(0.01)  # widens the window between counting and publishing: unguarded writers collide here
        return found

    monkeypatch.setattr(storage, "used_numbers", slow_count)
    writers = 12
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def save(index: int) -> None:
        try:
            start.wait()
            _storage(tmp_path).save({"writer": index, "benchmarks": [], "pad": "x" * 200_000}, f"w{index}")
        except BaseException as exc:  # noqa: B036  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    folder = tmp_path / "machine"
    files = baseline.numbered_files(folder)
    assert sorted(int(p.name[:4]) for p in files) == list(range(1, writers + 1))  # distinct numbers, none lost
    for path in files:
        assert path.name.endswith(f"_w{json.loads(path.read_text())['writer']}.json")  # complete, and its own
    assert not [p.name for p in folder.iterdir() if storage.is_temporary(p.name)]


def test_a_number_published_while_claiming_is_not_claimed(tmp_path):
    # the writer that held the claim published 0001 and dropped its claim just before this one claimed 0001
    (tmp_path / "0001_other.json").write_text("{}")
    assert storage._claim(tmp_path, 1) is None
    assert storage._claim(tmp_path, 2) == tmp_path / f"{storage.CLAIM_PREFIX}0002"
    assert storage._claim(tmp_path, 2) is None  # held
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{storage.CLAIM_PREFIX}0002", "0001_other.json"]


def test_an_existing_name_is_never_replaced(tmp_path, monkeypatch):
    folder = tmp_path / "machine"
    folder.mkdir()
    taken = folder / "0001_main.json"
    taken.write_text("someone else's")
    # a writer that does not take the lock published 0001 after this one counted the numbers
    monkeypatch.setattr(storage, "used_numbers", lambda folder: set())
    _storage(tmp_path).save({"benchmarks": []}, "main")
    assert taken.read_text() == "someone else's"
    assert json.loads((folder / "0002_main.json").read_text()) == {"benchmarks": []}


def test_without_hard_links_a_save_still_never_replaces(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    for index in range(3):
        _storage(tmp_path).save({"run": index, "benchmarks": []}, "main")
    folder = tmp_path / "machine"
    assert [json.loads(p.read_text())["run"] for p in sorted(folder.glob("*.json"))] == [0, 1, 2]
    assert not list(folder.glob(f"*{storage.TEMP_MARK}*"))


# --- a writer killed mid-write ---------------------------------------------------------------------------------------

# Runs storage.AtomicFileStorage.save for real; only the byte writer (or the publish step) is replaced by one that
# stops half-way and waits to be killed, so the kill lands mid-write every time.
_CHILD = r"""
import json, os, sys, time
from pathlib import Path
from pytest_infperf.artifacts import atomic
from pytest_infperf.compare import storage

class Log:
    def info(self, text, **kwargs):
        pass

def stop_half_way(fd, data):
    os.write(fd, data[: len(data) // 2])
    os.fsync(fd)
    print("PAUSED", flush=True)
    time.sleep(120)

def stop_holding_the_lock(tmp, target):
    print("PAUSED", flush=True)
    time.sleep(120)

root, machine, source, where = sys.argv[1:5]
payload = json.loads(Path(source).read_text())
for bench in payload["benchmarks"]:
    bench["stats"]["data"] = bench["stats"]["data"] * 2000  # a baseline of a few MB
if where == "write":
    atomic._write_all = stop_half_way  # the one writer of temporary files (pytest_infperf.artifacts.atomic)
else:
    storage._publish = stop_holding_the_lock
storage.AtomicFileStorage(root, logger=Log(), default_machine_id=machine).save(payload, "killed")
print("FINISHED", flush=True)
"""


def _kill_writer(root: Path, machine: str, source: Path, where: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), machine, str(source), where],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(PACKAGE_ROOT),
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        line = proc.stdout.readline()
        assert line.strip() == "PAUSED", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@POSIX_ONLY
def test_writer_killed_mid_write_leaves_no_partial_baseline(fake_suite, monkeypatch):
    earlier = _fake_baseline(fake_suite, monkeypatch)
    before = {p: p.read_bytes() for p in earlier}
    folder = earlier[0].parent
    _kill_writer(folder.parent, folder.name, earlier[0], "write")

    assert baseline.numbered_files(folder) == earlier  # no partial NNNN_*.json
    assert {p: p.read_bytes() for p in earlier} == before
    (temp,) = [p for p in folder.iterdir() if storage.TEMP_MARK in p.name]
    assert temp.name.startswith(".killed.json.tmp-")
    with pytest.raises(json.JSONDecodeError):
        json.loads(temp.read_text())  # it really was killed half-way

    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    result = run_fake(fake_suite, "--benchmark-compare")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*unchanged*"])
    assert "Failed to load" not in result.stdout.str() + result.stderr.str()
    assert temp.exists()  # younger than an hour: it might still be some writer's, so it is only ignored


@POSIX_ONLY
def test_writer_killed_holding_the_lock_does_not_block_the_next_save(tmp_path):
    source = tmp_path / "source.json"
    source.write_text(json.dumps({"benchmarks": [{"stats": {"data": [0.01] * 100}}]}))
    _kill_writer(tmp_path, "machine", source, "publish")
    folder = tmp_path / "machine"
    assert baseline.numbered_files(folder) == []

    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (_storage(tmp_path).save({"benchmarks": []}, "next"), done.set()), daemon=True
    )
    thread.start()
    thread.join(timeout=20)
    assert done.is_set(), "the lock of a killed writer was not released"
    assert [p.name for p in baseline.numbered_files(folder)] == ["0001_next.json"]


# --- two pytest sessions saving at once ------------------------------------------------------------------------------

# Holds each session right before it saves until both are there, so the two saves overlap.
_RENDEZVOUS = """
import os, time
from pathlib import Path
import pytest

@pytest.hookimpl(trylast=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    folder = Path(os.environ["INFPERF_TEST_RENDEZVOUS"])
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(folder.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
"""


def test_two_sessions_saving_at_once_both_survive_complete(fake_suite, tmp_path):
    fake_suite.makepyfile(infperf_rendezvous=_RENDEZVOUS)
    meeting = tmp_path / "rendezvous"
    meeting.mkdir()
    env = _env(PACKAGE_ROOT, TESTS) | {"INFPERF_TEST_RENDEZVOUS": str(meeting)}
    command = [sys.executable, "-m", "pytest", *FAKE_ARGS, "-p", "infperf_rendezvous", "--benchmark-save=x", "-q"]
    procs = [
        subprocess.Popen(command, cwd=fake_suite.path, env=env | {"INFPERF_FAKE_RUN": str(run)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for run in (1, 2)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
    assert len(list(meeting.glob("ready-*"))) == 2
    files = saved_files(fake_suite.path)
    assert [f.name for f in files] == ["0001_x.json", "0002_x.json"]
    runs = [baseline.read_run(f, f.parent.name) for f in files]
    assert all(len(run.cells) == 2 for run in runs)
    assert runs[0].cells != runs[1].cells  # two different sessions' samples, not one file twice
    assert not [p for p in files[0].parent.iterdir() if storage.TEMP_MARK in p.name]


# --- stale temporary files --------------------------------------------------------------------------------------------


def test_stale_temporary_files_are_ignored_and_old_ones_removed(tmp_path):
    folder = tmp_path / "machine"
    folder.mkdir()
    young = folder / f".main.json{storage.TEMP_MARK}4242-0badcafe"
    old = folder / f".main.json{storage.TEMP_MARK}4141-deadbeef"
    old_claim = folder / f"{storage.CLAIM_PREFIX}0007"
    for path in (young, old, old_claim):
        path.write_text('{"benchmarks": [')
    hour_ago = time.time() - storage.STALE_AFTER_S - 60
    for path in (old, old_claim):
        os.utime(path, (hour_ago, hour_ago))

    fs = _storage(tmp_path)
    assert list(fs.load()) == []  # pytest-benchmark's reader (and its compare CLI) never sees them
    assert baseline.numbered_files(folder) == []
    assert fs.query("main") == []
    fs.save({"benchmarks": []}, "main")
    assert [p.name for p in baseline.numbered_files(folder)] == ["0001_main.json"]
    assert young.exists() and not old.exists() and not old_claim.exists()


# --- --benchmark-json -------------------------------------------------------------------------------------------------


def test_benchmark_json_is_replaced_in_one_step(fake_suite):
    out = fake_suite.path / "out.json"
    out.write_text("previous")
    os.chmod(out, 0o640)
    inode = out.stat().st_ino
    assert run_fake(fake_suite, "--benchmark-json=out.json").ret == 0
    assert len(load_json(out)["benchmarks"]) == 2
    assert out.stat().st_ino != inode  # a new file renamed into place, not the old one rewritten
    assert out.stat().st_mode & 0o777 == 0o640
    assert not [p for p in fake_suite.path.iterdir() if storage.TEMP_MARK in p.name]


# --- schemas ---------------------------------------------------------------------------------------------------------


def _rewrite(path: Path, change) -> bytes:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=4))
    return path.read_bytes()


def _as_schema_2(data: dict) -> None:
    """What schema 2 wrote: one measurement per cell, its samples in stats.data, no repeats."""
    data["machine_info"]["infperf"]["schema"] = 2
    data["infperf"]["schema"] = 2
    for bench in data["benchmarks"]:
        bench["extra_info"]["infperf"].pop("repeats", None)


def _as_schema_1(data: dict) -> None:
    _as_schema_2(data)
    data["machine_info"]["infperf"]["schema"] = 1
    data.pop("infperf", None)


def test_schema_1_is_migrated_in_memory_and_never_rewritten(fake_suite, monkeypatch):
    (path,) = _fake_baseline(fake_suite, monkeypatch)
    assert load_json(path)["machine_info"]["infperf"]["schema"] == baseline.SCHEMA == 3
    before = _rewrite(path, _as_schema_1)
    run = baseline.read_run(path, path.parent.name)
    assert (run.schema, dict(run.outcomes), len(run.cells)) == (1, {}, 2)
    assert all(len(repeats) == 1 for repeats in run.cells.values())  # one measurement per cell: one repeat

    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    result = run_fake(fake_suite, "--benchmark-compare")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1x3x8x8*unchanged*", "*8x3x8x8*unchanged*"])  # both cells compared
    assert path.read_bytes() == before


def test_schema_2_is_one_repeat_per_cell_and_still_compares(fake_suite, monkeypatch):
    (path,) = _fake_baseline(fake_suite, monkeypatch)
    data = load_json(path)
    stored = {b["fullname"]: b["stats"]["data"] for b in data["benchmarks"]}
    before = _rewrite(path, _as_schema_2)
    run = baseline.read_run(path, path.parent.name)
    assert run.schema == 2
    assert {name: list(repeats[0]) for name, repeats in run.cells.items()} == stored
    assert all(len(repeats) == 1 for repeats in run.cells.values())
    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    result = run_fake(fake_suite, "--benchmark-compare")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1x3x8x8*unchanged*", "*8x3x8x8*unchanged*"])
    assert path.read_bytes() == before


def test_newer_schema_is_refused_naming_the_fix(tmp_path):
    path = _schema_2_file(tmp_path, {})  # end to end (exit 4, file untouched): test_baselines.py's other_schema
    path.write_text(path.read_text().replace('"schema": 2, "fingerprint"', '"schema": 99, "fingerprint"'))
    with pytest.raises(BaselineError) as info:
        baseline.read_run(path, "fp")
    assert str(info.value) == (
        f"baseline {path}: has baseline schema 99, newer than this pytest-infperf can read (it reads schema 3 and "
        "migrates schema 1, 2); upgrade pytest-infperf (pip install -U pytest-infperf), or move the file away and save "
        "a fresh baseline on this machine with: pytest perf_tests --benchmark-save=NAME"
    )


@pytest.mark.parametrize("schema", ["two", None, 0, True, 2.0])
def test_garbled_or_missing_schema_is_refused(tmp_path, schema):
    path = _schema_2_file(tmp_path, {})
    data = json.loads(path.read_text())
    data["machine_info"]["infperf"]["schema"] = schema
    if schema is None:
        del data["machine_info"]["infperf"]["schema"]
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(BaselineError) as info:
        baseline.read_run(path, "fp")
    assert str(info.value) == (
        f"baseline {path}: has no valid baseline schema (machine_info.infperf.schema is {schema!r}; this "
        f"pytest-infperf reads schema 3 and migrates schema 1, 2); restore it (git checkout -- {path}) or move it away "
        "and save a fresh baseline on this machine with: pytest perf_tests --benchmark-save=NAME"
    )
    assert path.read_bytes() == before


def _schema_2_file(tmp_path: Path, outcomes: object) -> Path:
    path = tmp_path / "0001_main.json"
    bench = {"fullname": "t.py::test_net[fake-cpu-fp32-b1]", "stats": {"data": [0.01, 0.011]}}
    path.write_text(json.dumps({
        "machine_info": {"infperf": {"schema": 2, "fingerprint": "fp", "fields": {}}},
        "benchmarks": [bench],
        "infperf": {"schema": 2, "outcomes": outcomes, "max_batch": []},
    }))
    return path


def test_schema_2_outcomes_of_cells_without_timing_are_read(tmp_path):
    oom = "t.py::test_net[fake-cpu-fp32-b64]"
    path = _schema_2_file(tmp_path, {oom: {"status": "oom", "cell": "fake-cpu-fp32-b64", "message": "CUDA out of "
                                           "memory", "batch": 64, "exit_signal": None, "log_tail": [], "memory": {}}})
    run = baseline.read_run(path, "fp")
    assert (run.schema, dict(run.outcomes)) == (2, {oom: "oom"})
    assert oom not in run.cells
    runs = baseline.BaselineSet((run,))
    assert runs.outcome(oom) == "oom"
    assert runs.outcome("t.py::test_net[fake-cpu-fp32-b1]") is None
    assert baseline.BaselineSet(()).outcome(oom) is None


@pytest.mark.parametrize("outcomes", [["oom"], {"t.py::x": {"cell": "x"}}, {"t.py::x": "oom"}])
def test_malformed_outcomes_are_refused(tmp_path, outcomes):
    path = _schema_2_file(tmp_path, outcomes)
    with pytest.raises(BaselineError, match=r"baseline .*0001_main\.json: has (a malformed run-level|an outcome)"):
        baseline.read_run(path, "fp")
