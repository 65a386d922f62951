"""pytest-xdist: one worker per GPU, each pinned to its own device, results merged into one JSON, table and baseline.

pytest-benchmark turns itself off under xdist (workers would disturb each other's timing). With one GPU per worker
they do not: each worker gets ``CUDA_VISIBLE_DEVICES`` set to its own GPU before anything touches CUDA, measures its
cells there (with pytest-benchmark switched back on), and hands its results to the controller through xdist's
``workeroutput``. The controller merges them and saves one file, exactly where a single process would have.
CPU cells in parallel would share cores and disturb each other, so they are refused unless ``infperf_xdist_cpu=on``.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from .session import InfperfSession

OUTPUT_KEY = "infperf"


def worker_id(config: pytest.Config) -> str | None:
    """``gw0``, ``gw1``… in an xdist worker; None elsewhere."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput.get("workerid"))
    return None


def is_controller(config: pytest.Config) -> bool:
    return getattr(config.option, "dist", "no") not in (None, "no") and worker_id(config) is None


def active(config: pytest.Config) -> bool:
    """This process is part of an xdist session (its controller or a worker)."""
    return worker_id(config) is not None or is_controller(config)


def pin(
    index: int, count: int, gpus: int, visible: str | None, devices: tuple[str, ...], allow_cpu: bool
) -> str | None:
    """The CUDA_VISIBLE_DEVICES value for worker ``index`` of ``count`` (None: leave unset), or a UsageError.

    ``visible`` is the CUDA_VISIBLE_DEVICES the session was started with: workers split that list, so a user's own
    restriction is kept."""
    if "cpu" in devices and not allow_cpu:
        raise pytest.UsageError(
            f"pytest -n {count}: CPU cells measured in parallel share cores and disturb each other's timing; run the "
            "CPU cells without -n (select --infperf-devices=cuda for -n), or set -o infperf_xdist_cpu=on if your "
            "workers are pinned to separate cores"
        )
    if "cuda" not in devices:
        return None
    ids = [part.strip() for part in visible.split(",") if part.strip()] if visible else [str(i) for i in range(gpus)]
    if count > len(ids):
        raise pytest.UsageError(
            f"pytest -n {count}: one worker per GPU is needed for undisturbed timing, and {len(ids)} GPU(s) are "
            f"visible; use -n {len(ids)} or -n auto"
        )
    return ids[index]


def split_cores(index: int, count: int) -> set[int]:
    """This worker's share of the CPU cores allowed to the session (empty when they cannot be split)."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None or not hasattr(os, "sched_setaffinity"):
        return set()
    cores = sorted(getter(0))
    if len(cores) < 2 * count:
        return set()
    share = len(cores) // count
    return set(cores[index * share:(index + 1) * share])


def check_controller(config: pytest.Config, gpus: int, devices: tuple[str, ...], allow_cpu: bool) -> None:
    """The controller checks that its workers can each get a GPU (a UsageError, exit 4, before any worker starts)."""
    count = len(getattr(config.option, "tx", None) or [])
    if count:
        pin(count - 1, count, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"), devices, allow_cpu)


def configure_worker(config: pytest.Config, gpus: int, devices: tuple[str, ...], allow_cpu: bool) -> str | None:
    """Pin this xdist worker to its GPU (before any CUDA initialisation). Returns the device it got."""
    workerinput = config.workerinput  # type: ignore[attr-defined]
    index = int(str(workerinput["workerid"]).removeprefix("gw"))
    count = int(workerinput.get("workercount", 1))
    device = pin(index, count, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"), devices, allow_cpu)
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    cores = split_cores(index, count)
    if cores:  # host-bound (launch-bound) cells feel a neighbour on the same cores: each worker gets its own
        os.sched_setaffinity(0, cores)  # inherited by the worker's cell processes
    # pytest-benchmark would disable itself (with a warning) under xdist; say "disabled" now, switch it back on in
    # enable_benchmarks() with the user's own --benchmark-disable
    InfperfSession.of(config).xdist_user_disable = bool(getattr(config.option, "benchmark_disable", False))
    config.option.benchmark_disable = True
    return device


def enable_benchmarks(config: pytest.Config, bs: Any) -> None:
    """In a pinned worker: measure (pytest-benchmark disabled itself), but leave saving to the controller."""
    if bs is None:
        return
    bs.disabled = InfperfSession.of(config).xdist_user_disable and not config.getoption(
        "benchmark_enable", False
    )
    InfperfSession.of(config).xdist_save = (bs.save, bs.autosave, bs.json)
    bs.save = bs.autosave = bs.json = None


def _pack(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value)).decode()


def _unpack(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))


def worker_output(config: pytest.Config, bs: Any, kept_logs: Path | None = None) -> None:
    """Everything the controller needs, in ``workeroutput`` (execnet carries plain types: JSON and pickles), and the
    worker's temporary log folder when it is kept (a cell crashed), for the controller to name.
    A failure here is reported to the controller, never swallowed (xdist would drop it silently)."""
    try:
        output = {**_output(config, bs), "logs": str(kept_logs or "")}
        config.workeroutput[OUTPUT_KEY] = output  # type: ignore[attr-defined]
    except Exception:
        import traceback

        config.workeroutput[OUTPUT_KEY] = {"error": traceback.format_exc()}  # type: ignore[attr-defined]


def _output(config: pytest.Config, bs: Any) -> dict[str, str]:
    from pytest_benchmark.utils import safe_dumps  # pytest-benchmark's own encoder (test params are objects)

    output_json = None
    if bs is not None and bs.benchmarks:
        machine_info = bs.get_machine_info()
        commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
        config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
        output_json = config.hook.pytest_benchmark_generate_json(
            config=config, benchmarks=bs.benchmarks, include_data=True, machine_info=machine_info,
            commit_info=commit_info,
        )
        config.hook.pytest_benchmark_update_json(config=config, benchmarks=bs.benchmarks, output_json=output_json)
    run = InfperfSession.of(config)
    return {
        "json": safe_dumps(output_json) if output_json is not None else "",
        "state": _pack({
            "results": run.results,
            "verdicts": run.verdicts,
            "outcomes": run.outcomes,
            "max_batch": run.max_batch,
            "device": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        }),
    }


def collect(config: pytest.Config, node: Any) -> None:
    """Controller: take one finished worker's results into this session's state."""
    output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if not output:
        return
    if "error" in output:
        InfperfSession.of(config).xdist_errors.append(f"{node.gateway.id}: {output['error']}")
        return
    merged = _unpack(output["state"])
    run = InfperfSession.of(config)
    run.results.extend(merged["results"])
    run.verdicts.update(merged["verdicts"])
    run.outcomes.update(merged["outcomes"])
    run.max_batch.extend(merged["max_batch"])
    if output["json"]:
        run.xdist_json.append(json.loads(output["json"]))
    run.xdist_devices[str(node.gateway.id)] = merged["device"]
    if output.get("logs"):
        run.xdist_logs.append(output["logs"])


def merge(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One pytest-benchmark JSON from the workers': benchmarks joined (sorted by name), run-level data merged."""
    if not parts:
        return None
    out = json.loads(json.dumps(parts[0]))
    out["benchmarks"] = sorted((b for part in parts for b in part.get("benchmarks", [])),
                               key=lambda b: b.get("fullname", ""))
    infperf = out.setdefault("infperf", {})
    for part in parts[1:]:
        other = part.get("infperf", {})
        infperf.setdefault("outcomes", {}).update(other.get("outcomes", {}))
        infperf.setdefault("max_batch", []).extend(other.get("max_batch", []))
    infperf["xdist_workers"] = len(parts)
    return out


def save(config: pytest.Config, bs: Any, interrupted: bool = False) -> list[str]:
    """Controller: write the merged JSON where pytest-benchmark would have (storage save, --benchmark-json). An
    interrupted session saves no baseline (it has only some cells); its --benchmark-json says ``interrupted``."""
    merged = merge(InfperfSession.of(config).xdist_json)
    if merged is None or bs is None:
        return []
    if interrupted:
        merged.setdefault("infperf", {})["interrupted"] = True
    written = []
    json_file = getattr(config.option, "benchmark_json", None)
    if json_file:
        written.append(_write_json(json_file, merged))
    name = getattr(config.option, "benchmark_save", None) or getattr(config.option, "benchmark_autosave", None)
    if name and not interrupted:
        before = set(Path(bs.storage.path).glob("*/*.json")) if hasattr(bs.storage, "path") else set()
        bs.storage.save(merged, name)
        after = set(Path(bs.storage.path).glob("*/*.json")) if hasattr(bs.storage, "path") else set()
        written += [str(p) for p in sorted(after - before)]
    return written


def _write_json(option: Any, merged: dict[str, Any]) -> str:
    """Write ``--benchmark-json`` in full: the option is a path (str or path-like, whose ``.name`` would be only its
    basename) or the file argparse opened (pytest-benchmark's ``FileType``: its ``.name`` is the path as given).
    A regular file is replaced in one step, like a single process's (storage.install); stdout or a pipe is written
    to. Returns where it went."""
    from pytest_benchmark.utils import safe_dumps

    from .compare.storage import atomic_write, regular_file_behind

    data = safe_dumps(merged, ensure_ascii=True, indent=4).encode()
    if isinstance(option, (str, os.PathLike)):
        path = Path(option).absolute()
        atomic_write(path, data)
        return str(path)
    path = regular_file_behind(option)
    if path is None:  # stdout, a pipe: write to the handle itself
        option.write(data)
        option.flush()
        return str(getattr(option, "name", option))
    option.close()
    atomic_write(path, data)
    return str(path)


class XdistController:
    """The controller's part of an xdist session, registered only there (``register``): it measures nothing, refuses
    once what every worker would refuse, takes each worker's results as it goes down and writes the merged files at
    the end. The generic hooks in ``plugin.py`` hold no controller branches."""

    def __init__(self, config: pytest.Config, gpus: int, devices: tuple[str, ...], allow_cpu: bool) -> None:
        self.config = config
        # refuse here, once, what each worker would refuse (xdist would restart crashing workers over and over)
        check_controller(config, gpus, devices, allow_cpu)
        # the controller measures nothing (its workers do): keep pytest-benchmark from announcing that it is disabled
        config.option.benchmark_disable = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        collect(self.config, node)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # interrupted: no baseline, as in plugin._save_complete_sessions_only (which has already said so, here too)
        run = InfperfSession.of(self.config)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        run.xdist_written = save(self.config, getattr(self.config, "_benchmarksession", None), interrupted)
        if run.xdist_errors:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


class XdistWorker:
    """A pinned worker's part of an xdist session, registered only there: measure with pytest-benchmark switched
    back on, leave saving to the controller, and hand the results over at the end."""

    def __init__(self, config: pytest.Config, gpus: int, devices: tuple[str, ...], allow_cpu: bool,
                 kept_logs: Any) -> None:
        self.config = config
        self._kept_logs = kept_logs  # () -> the log folder kept after a crash, or None
        self.device = configure_worker(config, gpus, devices, allow_cpu)  # before anything initialises CUDA

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        enable_benchmarks(self.config, getattr(self.config, "_benchmarksession", None))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        worker_output(self.config, getattr(self.config, "_benchmarksession", None), self._kept_logs())


def register(config: pytest.Config, gpus: int, devices: tuple[str, ...], allow_cpu: bool, kept_logs: Any) -> None:
    """Register the role this process has in an xdist session (controller or worker); nothing without xdist."""
    if worker_id(config) is not None:
        config.pluginmanager.register(XdistWorker(config, gpus, devices, allow_cpu, kept_logs), "infperf-xdist-worker")
    elif is_controller(config):
        config.pluginmanager.register(XdistController(config, gpus, devices, allow_cpu), "infperf-xdist-controller")
