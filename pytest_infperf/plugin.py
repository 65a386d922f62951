"""pytest entry point: options, hook wiring, parametrization. Thin: each concern lives in its own module."""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from . import distributed, gpu, hookspec, passes, presets, settings
from . import inputs as inputs_mod
from .artifacts import atomic
from .artifacts.models import ModelSpec
from .backends import REGISTRY, make_backend
from .compare import baseline as baseline_mod
from .compare import fingerprint
from .compare.gate import GateMode
from .compare.schema import SCHEMA
from .compare.storage import install as install_atomic_storage
from .errors import ModelError
from .fixture import InfPerf
from .inputs import InputsSpec
from .matrix import Case, expand, resolve_devices
from .measure.results import OutcomeStatus, strict_json
from .measure.runner import clear_sources
from .measure.worker import WorkerPool
from .patience import HostWait
from .report import summary
from .session import InfperfSession

pytest_plugins = ["pytest_infperf.serving.plugin"]  # serving cells (Triton): their marker, fixture and options

MARKER_KEYS = {"model", "input_shape", "name", "presets", "batches", "inputs", "dims", "unit", "sequence_dim"}
_DEFAULT_STORAGE = "file://./.benchmarks"


class InfperfBaselineWarning(UserWarning):
    """No comparable baseline was found for this machine."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_infperf_make_backend(config: pytest.Config, name: str) -> Any:
    return make_backend(name, InfperfSession.of(config).settings.backend_options)


def _backend_names(config: pytest.Config) -> tuple[str, ...]:
    extra = [n for names in config.hook.pytest_infperf_backend_names(config=config) for n in names]
    return tuple(dict.fromkeys([*REGISTRY, *extra]))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "infperf(model, input_shape, name=None): measure this test's model on every selected "
        "backend x device x precision x batch cell; model is a callable returning a torch.nn.Module, "
        "a 'module:attr' string or a path to an .onnx file; input_shape is one sample's shape",
    )
    bench_opts = {
        "min_rounds": config.getoption("benchmark_min_rounds", 5),
        "max_time": config.getoption("benchmark_max_time", 1.0),
        "min_time": config.getoption("benchmark_min_time", 0.0),
    }
    gpu_present = gpu.gpu_present()
    conf = settings.load(config, _backend_names(config), bench_opts, gpu_present)
    extra: dict[str, str] = {}
    for fields in config.hook.pytest_infperf_fingerprint(config=config):
        extra.update(fields)
    if conf.backend_options.torch.threads:  # a cell's time depends on its thread count: never compare across them
        extra.setdefault("threads", str(conf.backend_options.torch.threads))
    fp = fingerprint.collect(extra)
    selection = conf.selection
    devices = resolve_devices(selection.devices, gpu_present)
    conf = dataclasses.replace(conf, selection=dataclasses.replace(selection, devices=devices))
    run = InfperfSession(settings=conf, fingerprint=fp, host_wait=HostWait(conf.host_wait))
    run.attach(config)
    # an xdist worker pins its GPU here, before anything initialises CUDA in this process; a controller checks once
    distributed.register(config, len(gpu.nvml_gpus()), devices, conf.xdist_cpu, lambda: kept_logs(config))
    log_dir, temporary = _log_dir(config)
    run.temp_logs = log_dir if temporary else None
    run.worker = WorkerPool(log_dir)

    # pytest-benchmark builds its session (and loads --benchmark-compare) in its own trylast pytest_configure,
    # keyed by its default machine id. Keep the comparison back until pytest_sessionstart, when the session is
    # re-pointed at baselines/<fingerprint>/, so that it never loads another machine's files.
    if conf.storage and getattr(config.option, "benchmark_storage", None) == _DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{Path(config.rootpath, conf.storage)}"
    run.compare = getattr(config.option, "benchmark_compare", None)
    if run.compare:
        config.option.benchmark_compare = None


def _log_dir(config: pytest.Config) -> tuple[Path, bool]:
    """Where the worker processes' logs go: pytest's cache folder, else a temporary folder (True: removed at the end
    of the session unless `kept_logs` keeps it)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("infperf-logs")), False
    return Path(tempfile.mkdtemp(prefix="infperf-logs-")), True


def kept_logs(config: pytest.Config) -> Path | None:
    """This process's temporary log folder if it outlives the session: a cell crashed or timed out (its failure shows
    only the last lines of the log) and the folder holds logs. Otherwise it is removed, and so is nothing else."""
    run = InfperfSession.find(config)
    folder = run.temp_logs if run is not None else None
    ended = (OutcomeStatus.CRASHED, OutcomeStatus.TIMEOUT)
    if folder is None or not any(o.status in ended for o in run.outcomes.values()):
        return None
    try:
        return folder if any(folder.iterdir()) else None
    except OSError:
        return None


def pytest_unconfigure(config: pytest.Config) -> None:
    run = InfperfSession.find(config)
    if run is not None and run.worker is not None:
        run.worker.stop()  # before the logs go: the processes write to them
    folder = run.temp_logs if run is not None else None
    if folder is not None and kept_logs(config) is None:
        shutil.rmtree(folder, ignore_errors=True)
    clear_sources()


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    run = InfperfSession.of(config)
    compare = run.compare
    config.option.benchmark_compare = compare
    fp = run.fingerprint
    bs = getattr(config, "_benchmarksession", None)
    if bs is None:
        return
    bs.machine_id = fp.key
    bs.save_data = True  # raw samples are what the gate decides on
    install_atomic_storage(bs)  # saves: temp file + rename, run numbers under a lock; --benchmark-json atomic too
    _save_complete_sessions_only(session, bs)
    storage = bs.storage
    if hasattr(storage, "default_machine_id"):
        storage.default_machine_id = fp.key
    if not compare or not hasattr(storage, "path"):
        return
    folder = Path(storage.path) / fp.key
    if compare is True:
        candidates = baseline_mod.numbered_files(folder)
    else:
        try:
            candidates = [Path(p) for p in storage.query(compare)]
        except ValueError as exc:
            raise pytest.UsageError(f"--benchmark-compare={compare}: {exc}") from None
        if not candidates:
            available = ", ".join(p.name for p in baseline_mod.numbered_files(folder)) or "none"
            raise pytest.UsageError(
                f"--benchmark-compare={compare}: no baseline file matches in {folder} (this machine's folder; "
                f"saved runs: {available}); give a run number or name from that list, or save one first with "
                "--benchmark-save=NAME"
            )
    if candidates:
        run.baseline = baseline_mod.select(candidates, folder, fp.key, run.settings.history)
    else:
        run.baseline = baseline_mod.BaselineSet(runs=())
        others = baseline_mod.other_fingerprints(Path(storage.path), fp.key)
        hint = f" (baselines exist for other machines: {', '.join(others)}; they are not comparable)" if others else ""
        config.issue_config_time_warning(
            InfperfBaselineWarning(
                f"no baseline for this machine in {folder}{hint}; every cell is reported as 'no baseline'. "
                "Save one with: pytest perf_tests --benchmark-save=NAME"
            ),
            stacklevel=2,
        )
    bs.compare = compare
    bs.handle_loading()


def _save_complete_sessions_only(session: pytest.Session, bs: Any) -> None:
    """An interrupted session (Ctrl-C, pytest.exit) measured only the cells that finished before it stopped. Saved,
    that run would become the newest baseline, and the next ``--benchmark-compare`` would judge the other cells
    against nothing. pytest-benchmark saves from its own pytest_sessionfinish; its saving step is wrapped here so
    that an interrupted session saves no baseline (its --benchmark-json is still written, marked ``interrupted``)."""
    handle_saving = bs.handle_saving

    def save_unless_interrupted() -> None:
        if session.exitstatus != pytest.ExitCode.INTERRUPTED:
            handle_saving()
            return
        InfperfSession.of(session.config).interrupted = True
        what = _save_option(bs.save, bs.autosave)  # None in xdist workers: their controller saves, and says so
        saves = bs.save, bs.autosave
        bs.save = bs.autosave = None
        try:
            handle_saving()
        finally:
            bs.save, bs.autosave = saves
        if what:
            _say_not_saved(session.config, what)

    bs.handle_saving = save_unless_interrupted


def _save_option(save: str | None, autosave: str | None) -> str:
    """The option that asked for a baseline save, as the user wrote it ("" when none did)."""
    if save:
        return f"--benchmark-save={save}"
    return "--benchmark-autosave" if autosave else ""


def _say_not_saved(config: pytest.Config, what: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"infperf: {what} was not saved: the session was interrupted, so only some cells were measured; "
            "save from a session that runs to the end", yellow=True, bold=True,
        )


@functools.cache
def _benchmark_machine_info() -> dict[str, Any]:
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info as generate

    return generate()


@pytest.hookimpl(tryfirst=True)
def pytest_benchmark_generate_machine_info(config: pytest.Config) -> dict[str, Any]:
    """pytest-benchmark's own machine_info, computed once per process (py-cpuinfo takes about a second)."""
    return copy.deepcopy(_benchmark_machine_info())


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    run = InfperfSession.find(config)
    if run is not None:
        fp = run.fingerprint
        machine_info["infperf"] = {"schema": SCHEMA, "fingerprint": fp.key, "fields": fp.as_dict}


JSON_VERDICT_KEYS = {
    "time": "infperf_verdict", "cold-start": "infperf_cold_verdict", "memory": "infperf_memory_verdict",
}


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """Each compared cell carries its verdict in the JSON (--benchmark-json, saves), for CI and tools to read."""
    run = InfperfSession.of(config)
    output_json["infperf"] = {
        "schema": SCHEMA,
        "outcomes": {nodeid: o.to_json() for nodeid, o in run.outcomes.items()},
        "max_batch": [m.to_json() for m in run.max_batch],
    }
    if run.interrupted:
        output_json["infperf"]["interrupted"] = True  # only the cells that finished before the interrupt
    for bench in output_json.get("benchmarks", []):
        bundle = run.verdicts.get(bench.get("fullname"))
        for kind, verdict in (bundle.kinds() if bundle is not None else {}).items():
            bench.setdefault("extra_info", {})[JSON_VERDICT_KEYS[kind]] = verdict.to_json()
    # the last guard of every file pytest-benchmark writes for us (--benchmark-json, saves, xdist workers): strict
    # JSON, no NaN/Infinity anywhere, not even in a user's extra_info
    output_json.update(strict_json(output_json))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "infperf" not in metafunc.fixturenames:
        return
    where = metafunc.definition.nodeid
    marker = metafunc.definition.get_closest_marker("infperf")
    if marker is None:
        raise pytest.Collector.CollectError(
            f"{where} uses the infperf fixture but has no @pytest.mark.infperf(model=..., input_shape=...)"
        )
    if marker.args:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf takes keyword arguments only: model=..., input_shape=(C, H, W)"
        )
    unknown = set(marker.kwargs) - MARKER_KEYS
    if unknown:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf got unknown argument(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(MARKER_KEYS))}"
        )
    if "model" not in marker.kwargs:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf needs model=... and input_shape=(C, H, W) (one sample's shape) or "
            "inputs={name: dict(shape=..., dtype=...)}"
        )
    try:
        spec = ModelSpec.from_marker(marker.kwargs["model"], marker.kwargs.get("name"))
        spec.check(metafunc.config.rootpath)
    except ModelError as exc:
        raise pytest.Collector.CollectError(f"{where}: {exc}") from None
    shapes = _input_shapes(where, marker.kwargs) if "input_shape" in marker.kwargs else None
    inputs_spec = None if shapes else _inputs_spec(where, marker.kwargs, spec, metafunc.config.rootpath)
    conf = InfperfSession.of(metafunc.config).settings
    only = _marker_presets(where, marker.kwargs.get("presets"))
    own_batches = _marker_batches(where, marker.kwargs.get("batches"))
    if only is not None and conf.preset not in only:
        reason = f"runs only with --infperf-preset={' or '.join(only)} (active preset: {conf.preset or 'none'})"
        metafunc.parametrize("infperf_case", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             ids=["other-preset"], indirect=True)
        return
    selection = conf.selection
    if own_batches and not conf.batches_from_cli:
        selection = dataclasses.replace(selection, batches=own_batches)
    if inputs_spec is None:
        cases = expand(selection, shapes or [], conf.max_batch)
    else:
        cases = with_dims(expand(selection, [()], conf.max_batch), inputs_spec)
    metafunc.parametrize("infperf_case", [(case, spec) for case in cases], ids=[c.id for c in cases], indirect=True)


def _input_shapes(where: str, kwargs: dict[str, Any]) -> list[tuple[int, ...]]:
    """``input_shape=``: one sample's shape of the one float input, or a list of such shapes (a cell axis)."""
    extra = sorted(k for k in ("inputs", "dims", "unit", "sequence_dim") if k in kwargs)
    if extra:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf got input_shape= and {', '.join(f'{k}=' for k in extra)}; input_shape= "
            "describes one float input: for several inputs, integer inputs or named dims write inputs={name: "
            "dict(shape=..., dtype=...)} (and dims=, unit=) instead of input_shape="
        )
    shape = kwargs["input_shape"]
    shapes = list(shape) if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)) else [shape]

    def valid(one: object) -> bool:
        return (isinstance(one, (tuple, list)) and bool(one)
                and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in one))

    if not all(valid(one) for one in shapes):
        raise pytest.Collector.CollectError(
            f"{where}: input_shape={shape!r} must be one sample's shape as positive integers, e.g. (3, 224, 224), "
            "or a list of such shapes"
        )
    return [tuple(one) for one in shapes]


def _inputs_spec(where: str, kwargs: dict[str, Any], spec: ModelSpec, rootpath: Path) -> InputsSpec:
    """``inputs=``/``dims=``/``unit=``/``sequence_dim=`` (see inputs.py); for an .onnx file the graph's own inputs,
    which then need no ``inputs=``."""
    graph = None
    if spec.kind == "onnx":
        path = spec.target if spec.target.is_absolute() else rootpath / spec.target
        try:
            graph = inputs_mod.onnx_graph_inputs(path)
        except ModelError as exc:
            raise pytest.Collector.CollectError(f"{where}: {exc}") from None
    elif "inputs" not in kwargs:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf needs model=... and input_shape=(C, H, W) (one float input) or "
            "inputs={name: dict(shape=..., dtype=...)} (several inputs; the batch comes from the matrix)"
        )
    try:
        return inputs_mod.parse(kwargs.get("inputs"), kwargs.get("dims"), kwargs.get("unit"),
                                kwargs.get("sequence_dim"), graph, str(spec.target))
    except ModelError as exc:
        raise pytest.Collector.CollectError(f"{where}: @pytest.mark.infperf: {exc}") from None


def with_dims(cases: list[Case], spec: InputsSpec) -> list[Case]:
    """Each cell once per assignment of the named dims (ids: ``...-b8-seq128``)."""
    return [
        dataclasses.replace(case, dims=combo, inputs=spec, input_shape=spec.first_shape(dict(combo)))
        for case in cases for combo in spec.combos()
    ]


def _marker_presets(where: str, value: object) -> tuple[str, ...] | None:
    """``presets=`` of the marker: one preset name or a sequence of them, each a known preset (a string taken as a
    sequence would be its letters, and the test would be skipped under every preset)."""
    if value is None:
        return None
    names = (value,) if isinstance(value, str) else value
    known = tuple(presets.PRESETS)
    if not isinstance(names, (tuple, list)) or not names or not all(n in known for n in names):
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf(presets={value!r}) must name one or more known presets, e.g. "
            f"presets=('cpu',) or presets='cpu'; known presets: {', '.join(known)}"
        )
    return tuple(names)


def _marker_batches(where: str, value: object) -> tuple[int, ...] | None:
    """``batches=`` of the marker: this test's batch sizes instead of the preset's or ini's (an explicit
    ``--infperf-batches`` still wins, so a run can always narrow them)."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or not value or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value
    ):
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.infperf(batches={value!r}) must be one or more positive integers, e.g. "
            "batches=(32,) or batches=[1, 32]"
        )
    return tuple(dict.fromkeys(value))


@pytest.fixture
def infperf_case(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def infperf(request: pytest.FixtureRequest, infperf_case: Any, benchmark: Any) -> InfPerf:
    """Measures this test's cell: ``infperf.benchmark()``."""
    case, spec = infperf_case
    return InfPerf(request, case, spec, benchmark)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Before the tests run: the interleaved repeat passes over the matrix (see passes.py)."""
    passes.run(session)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Any:
    try:
        return (yield)
    finally:
        written = _write_report(config)  # the whole markdown report in one write, before either section prints
        _write_summary(terminalreporter, config, written)
        _write_outcomes(terminalreporter, config)
        if written is not None and not InfperfSession.of(config).results:  # no results section to say so
            terminalreporter.write_line(f"markdown report written to {written}")


def _write_outcomes(tr: Any, config: pytest.Config) -> None:
    """Cells without a measurement, max-batch searches and concurrency scaling (terminal)."""
    run = InfperfSession.of(config)
    logs = [str(folder) for folder in (kept_logs(config),) if folder] + run.xdist_logs
    summary.write_outcomes(tr, run.outcomes, run.max_batch, run.results, logs)


def _write_report(config: pytest.Config) -> Path | None:
    """The markdown report (--infperf-report), composed whole and written once. Returns its path."""
    run = InfperfSession.of(config)
    conf = run.settings
    extra = [section for section in (make() for make in run.report_sections) if section]
    if not conf.report or not (run.results or run.outcomes or run.max_batch or extra):
        return None
    text = summary.markdown_report(run.fingerprint.key, run.results, run.time_verdicts(), run.other_verdicts(),
                                   run.outcomes, run.max_batch, conf.reference, conf.memory_limit_mib, extra)
    path = Path(config.invocation_params.dir, conf.report)
    atomic.write_bytes(path, text.encode())
    return path


def _write_summary(tr: Any, config: pytest.Config, report_path: Path | None = None) -> None:
    run = InfperfSession.of(config)
    if not run.results:
        return
    conf = run.settings

    def write_plots() -> list[Path]:
        from .report import plots  # matplotlib only when plots are asked for

        folder = Path(config.invocation_params.dir, conf.plot)
        return plots.write_plots(run.results, run.time_verdicts(), folder, run.fingerprint.key)

    summary.write_summary(
        tr, run.fingerprint.key, run.results, run.time_verdicts(), run.other_verdicts(), run.outcomes,
        gate_mode=conf.gate.value, reference=conf.reference, memory_limit_mib=conf.memory_limit_mib,
        workers=run.xdist_devices, merged_into=run.xdist_written, worker_errors=run.xdist_errors,
        report_path=report_path, write_plots=write_plots if conf.plot else None,
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``pytest -n auto``: one worker per visible GPU (called before configure: options are not parsed yet)."""
    visible = [p for p in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if p.strip()]
    return len(visible) or len(gpu.nvml_gpus()) or None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = InfperfSession.find(config)
    if run is None:
        return
    regressed = any(bundle.regressed() for bundle in run.verdicts.values())
    if regressed and run.settings.gate is GateMode.FAIL and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
