"""pytest wiring of serving cells: the ``infperf_serving`` marker and fixture, the options, one server at a time.

    @pytest.mark.infperf_serving(model=make_net, input_shape=(3, 64, 64), max_batch=[8, 16], users=[1, 2, 4],
                                 rate=[50], queue_delay_us=2000)
    def test_served(infperf_serving):
        result = infperf_serving.run()

expands into cells ``mb8-qd2000-u1``, …, ``mb16-qd2000-r50``; the cells of one batcher setting share one server
(started for the first of them, whose first request is the cold start; stopped when the next setting starts and at the
end of the session). With ``--infperf-triton-url`` the cells run against that server instead (batcher axis: ``url``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from .. import gpu
from ..fixture import enforce
from ..session import InfperfSession
from . import cell, env, gate, report
from .results import BatcherSettings, LoadSpec, Outcome, ServingResult
from .server import RemoteEndpoint, ServerError, TritonServer, model_spec

MARKER = "infperf_serving"
MARKER_KEYS = {"model", "input_shape", "name", "max_batch", "users", "rate", "batch", "queue_delay_us", "preferred",
               "instances", "duration_s", "warmup_s", "timeout_s", "procs", "backend", "device", "precision", "ceiling",
               "slo", "repeats", "shm"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("infperf", "inference performance (pytest-infperf)")
    group.addoption("--infperf-triton-url", default=None,
                    help="serving cells run against this Triton gRPC endpoint (host:port) instead of starting one")
    group.addoption("--infperf-triton-model", default=None,
                    help="model name on --infperf-triton-url (inputs and outputs read from its metadata)")
    group.addoption("--infperf-serving-python", default=None,
                    help="interpreter with nvidia-pytriton and tritonclient (default: <rootdir>/.venv-serving/bin/"
                         "python, else this one)")
    group.addoption("--infperf-slo-ms", type=float, default=None,
                    help="serving cells: also search the highest Poisson request rate whose p99 stays under this")
    group.addoption("--infperf-p99-threshold", type=float, default=25.0,
                    help="serving cells, when comparing: percent growth of p99 latency below which it is unchanged "
                         "(throughput takes --infperf-threshold)")
    parser.addini("infperf_p99_floor", "serving cells: least noise (percent, sigma) of a p99 latency between "
                  "sessions", default="25")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(model, input_shape, max_batch=[8], users=[1], rate=[], ...): serve this test's model "
        "through a real Triton server (PyTriton) and load it with concurrent users or a request rate")
    if config.getoption("infperf_triton_url") and not config.getoption("infperf_triton_model"):
        raise pytest.UsageError("--infperf-triton-url: name the model too: --infperf-triton-model=NAME")
    pool = ServerPool(config)
    config.pluginmanager.register(pool, "infperf-serving-pool")
    run = InfperfSession.find(config)
    if run is not None:
        run.report_sections.append(pool.markdown)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class ServingCase:
    batcher: BatcherSettings | None  # None: the user-named server
    load: LoadSpec

    @property
    def id(self) -> str:
        return f"{self.batcher.id if self.batcher else 'url'}-{self.load.id}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "infperf_serving" not in metafunc.fixturenames:
        return
    where = metafunc.definition.nodeid
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or marker.args:
        raise pytest.Collector.CollectError(
            f"{where} uses the infperf_serving fixture; mark it @pytest.mark.{MARKER}(model=..., input_shape=...) "
            "with keyword arguments only")
    kw = marker.kwargs
    unknown = set(kw) - MARKER_KEYS
    if unknown:
        raise pytest.Collector.CollectError(
            f"{where}: @pytest.mark.{MARKER} got unknown argument(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(MARKER_KEYS))}")
    for key, allowed in (("device", ("cpu", "cuda")), ("precision", ("fp32", "fp16", "bf16"))):
        if key in kw and kw[key] not in allowed:
            raise pytest.Collector.CollectError(
                f"{where}: @pytest.mark.{MARKER}({key}={kw[key]!r}): choose one of {', '.join(allowed)}")
    remote = metafunc.config.getoption("infperf_triton_url")
    if "model" not in kw and not remote:
        raise pytest.Collector.CollectError(f"{where}: @pytest.mark.{MARKER} needs model=... and input_shape=...")
    try:
        batchers: list[BatcherSettings | None] = [None] if remote else [
            BatcherSettings(max_batch=int(mb), preferred=tuple(kw.get("preferred", ())),
                            queue_delay_us=int(kw.get("queue_delay_us", 0)), instances=int(kw.get("instances", 1)))
            for mb in _list(kw.get("max_batch", [8]))]
        common = {k: kw[k] for k in ("batch", "duration_s", "warmup_s", "timeout_s", "procs", "shm") if k in kw}
        loads = [LoadSpec(users=int(u), **common) for u in _list(kw.get("users", [1] if "rate" not in kw else []))]
        loads += [LoadSpec(rate=float(r), **common) for r in _list(kw.get("rate", []))]
    except (TypeError, ValueError) as exc:
        raise pytest.Collector.CollectError(f"{where}: @pytest.mark.{MARKER}: {exc}") from None
    cases = [ServingCase(b, load) for b in batchers for load in loads]
    metafunc.parametrize("infperf_serving", cases, ids=[c.id for c in cases], indirect=True)


@dataclass(eq=False)  # registered as a plugin: hashed by identity
class ServerPool:
    """At most one started server alive at a time (two small CPU cores; a GPU's memory): the cells of one batcher
    setting are collected next to each other, so each setting starts once. A server that failed to start is
    remembered, and its other cells fail at once with the same log."""

    config: pytest.Config
    key: tuple[Any, ...] | None = None
    server: TritonServer | None = None
    failed: dict[tuple[Any, ...], ServerError] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="infperf-serving-")))
    count: int = 0
    results: list[ServingResult] = field(default_factory=list)

    def get(self, key: tuple[Any, ...], make: Any) -> tuple[TritonServer, bool]:
        if key in self.failed:
            raise self.failed[key]
        if key == self.key and self.server is not None and self.server.alive():
            return self.server, False
        self.stop()
        self.count += 1
        server = make(self.workdir / f"server-{self.count}")
        try:
            server.start()
        except ServerError as exc:
            self.failed[key] = exc
            raise
        self.key, self.server = key, server
        return server, True

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.key, self.server = None, None

    def pytest_sessionfinish(self) -> None:
        self.stop()

    def markdown(self) -> str:
        """The serving cells' section of --infperf-report (empty without serving cells)."""
        if not self.results:
            return ""
        return "## Serving (Triton)\n\n" + report.table(self.results) + "\n"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            terminalreporter.write_sep("-", "infperf serving (Triton)")
            terminalreporter.write_line(report.table(self.results))
            for result in self.results:
                for kind, verdict in result.verdicts.items():
                    if verdict["status"] != "unchanged":
                        terminalreporter.write_line(f"serving {kind}: {result.model} {verdict['status']}: "
                                                    f"{verdict['change']:+.1%} (limit ±{verdict['limit']:.1%})"
                                                    if verdict.get("change") is not None else
                                                    f"serving {kind}: {result.model} {verdict['status']}")
            run = InfperfSession.find(self.config)
            if run is not None and run.settings.plot:
                from .plots import write_serving_plots

                folder = Path(self.config.invocation_params.dir, run.settings.plot)
                for path in write_serving_plots(self.results, folder, run.fingerprint.key):
                    terminalreporter.write_line(f"infperf serving plot: {path}")


class ServingCell:
    """The fixture's value: ``run()`` measures the cell, records it in pytest-benchmark and returns the result."""

    def __init__(self, request: pytest.FixtureRequest, case: ServingCase) -> None:
        self.request, self.case = request, case
        self.config = request.config
        self.marker = request.node.get_closest_marker(MARKER)
        self.result: ServingResult | None = None

    def _python(self) -> tuple[str, str]:
        python = self.config.getoption("infperf_serving_python") or env.default_python(self.config.rootpath)
        why, libdir = env.probe(python)
        if why:
            pytest.skip(f"{why}; install: {env.INSTALL_HINT}")
        return python, libdir

    def run(self) -> ServingResult:
        python, libdir = self._python()
        kw = self.marker.kwargs
        pool: ServerPool = self.config.pluginmanager.get_plugin("infperf-serving-pool")
        shape = tuple(kw["input_shape"]) if "input_shape" in kw else None
        slo = self.config.getoption("infperf_slo_ms") or kw.get("slo")
        if self.case.batcher is None:
            name = self.config.getoption("infperf_triton_model")
            endpoint: Any = RemoteEndpoint(self.config.getoption("infperf_triton_url"), name)
            fresh = False
        else:
            if shape is None:
                raise pytest.UsageError(f"{self.request.node.nodeid}: serving a model needs input_shape=...")
            spec = model_spec(kw["model"], self.config.rootpath)
            name = kw.get("name") or spec.get("qualname") or spec.get("target", "").rpartition(":")[2]
            device, precision = str(kw.get("device", "cpu")), str(kw.get("precision", "fp32"))
            if device == "cuda" and not gpu.gpu_present():
                pytest.skip(f"serving on cuda needs an NVIDIA GPU (none visible): {self.request.node.nodeid}")
            key = (json.dumps(spec, sort_keys=True), shape, self.case.batcher, kw.get("backend", "auto"), device,
                   precision)

            def make(logdir: Path) -> TritonServer:
                return TritonServer(python, libdir, spec, shape, self.case.batcher, logdir,
                                    backend=kw.get("backend", "auto"), device=device, precision=precision)

            served = f"{kw.get('backend', 'auto')}-{device}-{precision}"
            try:
                endpoint, fresh = pool.get(key, make)
            except ServerError as exc:
                self.result = ServingResult(model=name, url="", batcher=self.case.batcher,
                                            outcome=Outcome.HUNG if exc.hung else Outcome.START_FAILED,
                                            log_tail=exc.log_tail, served=served)
                self._record()
                pytest.fail(f"{self.request.node.nodeid}: {exc}", pytrace=False)
        run = InfperfSession.find(self.config)
        repeats = int(kw.get("repeats") or (run.settings.repeats if run is not None else 1))
        result = cell.measure(python, libdir, endpoint, self.case.load, pool.workdir / "load", model=name,
                              cold=fresh, ceiling=bool(kw.get("ceiling", True)),
                              shape=shape if self.case.batcher is None else None, slo_ms=slo, repeats=repeats)
        if self.case.batcher is not None:  # the backend "auto" resolved to, as the server reported it
            result = replace(result, served=f"{endpoint.info.get('backend', kw.get('backend', 'auto'))}-{device}-"
                                            f"{precision}")
        verdicts = None
        if result.outcome is Outcome.OK and run is not None and run.baseline is not None and run.baseline.runs:
            verdicts = gate.judge(
                self.case.id, result, run.baseline.serving(self.request.node.nodeid),
                run.settings.gate_policy, self.config.getoption("infperf_p99_threshold") / 100,
                p99_floor_of(self.config), run.baseline.source)
            result = replace(result, verdicts=verdicts.to_json())
        self.result = result
        self._record()
        if result.outcome is not Outcome.OK:
            pool.stop()
            pytest.fail(f"{self.request.node.nodeid}: server {result.outcome.value}:\n" + "\n".join(result.log_tail),
                        pytrace=False)
        if verdicts is not None and run is not None:
            enforce(run.settings.gate, verdicts.regressions())
        return result

    def _record(self) -> None:
        """Into pytest-benchmark's JSON: per-request latencies as its samples (seconds), everything else, without the
        raw latencies again, under ``extra_info.infperf_serving``; plain params for ``compare --group-by``."""
        result = self.result
        assert result is not None
        self.config.pluginmanager.get_plugin("infperf-serving-pool").results.append(result)
        benchmark = self.request.getfixturevalue("benchmark")
        benchmark._mode = "infperf_serving.run()"  # pytest-benchmark's "used" mark: no "fixture not used" warning
        load = self.case.load
        benchmark.params = {
            "infperf_case": self.case.id, "model": result.model, "serving": "triton",
            "max_batch": self.case.batcher.max_batch if self.case.batcher else None, "users": load.users,
            "rate": load.rate, "batch": load.batch, "served": result.served,
        }
        if result.load is not None and result.load.latencies_s and not benchmark.disabled:
            stats = benchmark._make_stats(1)  # pytest-benchmark's own constructor (see fixture.record_in_...)
            for seconds in result.load.latencies_s:
                stats.update(seconds)
            stats.options.update(timer="time.monotonic (client, per request)", warmup=True,
                                 warmup_s=load.warmup_s)
        data = result.to_json()
        for part in ("load", "ceiling"):
            if data[part]:
                data[part].pop("latencies_s")
        for repeat in data["repeats"]:
            repeat.pop("latencies_s")
        benchmark.extra_info["infperf_serving"] = data


def p99_floor_of(config: pytest.Config) -> float:
    raw = config.getini("infperf_p99_floor")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"ini infperf_p99_floor={raw!r} must be a number (percent), e.g. 25") from None
    if not 0 <= value <= 1000:
        raise pytest.UsageError(f"ini infperf_p99_floor={raw!r} must be between 0 and 1000 (percent)")
    return value / 100


@pytest.fixture
def infperf_serving(request: pytest.FixtureRequest) -> ServingCell:
    case = getattr(request, "param", None)
    if not isinstance(case, ServingCase):
        raise pytest.UsageError(f"{request.node.nodeid}: infperf_serving needs @pytest.mark.{MARKER}(...)")
    return ServingCell(request, case)


