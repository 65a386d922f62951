"""Serving cells through a real Triton server (PyTriton) on this CPU machine: the lifecycle, closed and open loop,
the SLO search, a server that fails to start, a request timeout, a user-named URL, and the skip without PyTriton.

The serving interpreter is ``$INFPERF_SERVING_PYTHON`` or ``.venv-serving/bin/python`` of this checkout (``.ci/run``
creates it); these tests skip, with the install command, where it lacks PyTriton."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest

from pytest_infperf.serving import env, load_main
from pytest_infperf.serving.results import (
    BatcherSettings,
    LoadResult,
    LoadSpec,
    Outcome,
    ServingResult,
    TritonStats,
)
from pytest_infperf.serving.server import ServerError, TritonServer, model_spec

ROOT = Path(__file__).resolve().parents[2]
FAST = "duration_s=1.5, warmup_s=0.3, repeats=1"


@pytest.fixture(scope="session")
def serving_python() -> tuple[str, str]:
    python = os.environ.get("INFPERF_SERVING_PYTHON") or env.default_python(ROOT)
    why, libdir = env.probe(python)
    if why:
        pytest.skip(f"{why}; install: {env.INSTALL_HINT}")
    return python, libdir


def _json(pytester: pytest.Pytester, name: str = "out.json") -> dict:
    text = (pytester.path / name).read_text()
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def _cells(data: dict) -> dict[str, dict]:
    return {b["params"]["infperf_case"]: b for b in data["benchmarks"]}


# --- units (no server) -------------------------------------------------------------------------------------------


def test_results_round_trip_as_strict_json() -> None:
    stats = TritonStats(requests=10, inferences=20, executions=5, queue_ms=1.5, compute_input_ms=0.1,
                        compute_infer_ms=2.0, compute_output_ms=0.2, batch_sizes={4: 5})
    load = LoadResult(LoadSpec(users=2), 1.0, ok=10, errors=1, timeouts=2, dropped=0,
                      latencies_s=tuple(i / 1000 for i in range(1, 11)), stats=stats, cold_start_s=float("nan"))
    result = ServingResult("m", "127.0.0.1:1", BatcherSettings(16, (4, 8), 500, 2), Outcome.OK, load, load,
                           start_s=3.0, slo_ms=50.0, slo_rate=12.5, slo_probes=((10.0, 5.0), (20.0, None)))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert ServingResult.from_json(data).to_json() == result.to_json()
    assert data["load"]["summary"]["mean_batch"] == 4.0 and data["load"]["cold_start_s"] is None
    assert math.isclose(load.percentile_ms(50), 5.5) and load.inferences_per_s == 10.0
    assert result.batcher.id == "mb16-qd500-i2-p4_8" and LoadSpec(rate=50).id == "r50"


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatcherSettings(max_batch=0)
    with pytest.raises(ValueError, match="users"):
        LoadSpec(users=0)


def test_statistics_difference() -> None:
    def snap(success: int, queue_ns: int, b4: int, inferences: int, executions: int) -> dict:
        return {"inference_stats": {"success": {"count": str(success)}, "queue": {"ns": str(queue_ns)},
                                    "compute_infer": {"ns": "0"}},
                "inference_count": str(inferences), "execution_count": str(executions),
                "batch_stats": [{"batch_size": "4", "compute_infer": {"count": str(b4)}}]}

    diff = load_main.stats_diff(snap(10, 1_000_000, 1, 10, 5), snap(30, 21_000_000, 6, 30, 10))
    assert diff["requests"] == 20 and diff["queue_ms"] == 1.0 and diff["batch_sizes"] == {"4": 5}
    assert TritonStats.from_json(diff).mean_batch == 4.0


def test_the_load_generator_writes_its_result_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_infperf.artifacts import atomic

    async def part(task: dict, start_at: float) -> dict:  # no server: one process's counts and latencies
        return {"latencies_s": [0.001, 0.002], "error_sample": "", "ok": 2, "errors": 0, "timeouts": 0, "dropped": 0}

    written: list[Path] = []
    write_bytes = atomic.write_bytes
    monkeypatch.setattr(load_main, "run_part", part)
    monkeypatch.setattr(atomic, "write_bytes", lambda target, data: (written.append(target),
                                                                      write_bytes(target, data)))
    spec, out = tmp_path / "spec.json", tmp_path / "out.json"
    spec.write_text(json.dumps({"url": "x", "model": "m", "seed": 0, "stats": False, "load": {
        "procs": 1, "users": 1, "rate": 0, "duration_s": 1.0, "warmup_s": 0.0, "batch": 1, "timeout_s": 1.0}}))
    assert load_main.main(str(spec), str(out)) == 0
    assert written == [out] and sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "spec.json"]
    assert json.loads(out.read_text())["latencies_s"] == [0.001, 0.002]


def test_a_local_factory_cannot_be_served() -> None:
    def local():  # pragma: no cover - never called
        return None

    with pytest.raises(ValueError, match="module level"):
        model_spec(local, ROOT)


def test_without_pytriton_serving_cells_skip_with_the_install_command(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:identity", input_shape=(4,), users=[1, 2])
        def test_served(infperf_serving):
            infperf_serving.run()
        """
    )
    result = pytester.runpytest("-rs", f"--infperf-serving-python={sys.executable}", "-p", "no:randomly")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*lacks PyTriton*pip install nvidia-pytriton*"])


def test_marker_errors_name_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:identity", input_shape=(4,), userz=[1])
        def test_served(infperf_serving):
            infperf_serving.run()
        """
    )
    result = pytester.runpytest("--collect-only")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown argument(s) userz*"])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:identity", input_shape=(4,), device="gpu")
        def test_served(infperf_serving):
            infperf_serving.run()
        """
    )
    result = pytester.runpytest("--collect-only")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*device='gpu'): choose one of cpu, cuda*"])


# --- a real Triton server ----------------------------------------------------------------------------------------


def test_closed_loop_open_loop_and_slo_search(pytester: pytest.Pytester, serving_python: tuple[str, str]) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        def doubled():  # a factory in the test file: the server imports it by the file's path
            return lambda x: x[:, :2] * 2

        @pytest.mark.infperf_serving(model=doubled, input_shape=(8,), max_batch=[8], users=[1, 2, 4], rate=[40],
                                     queue_delay_us=1000, {FAST})
        def test_served(infperf_serving):
            result = infperf_serving.run()
            assert result.load.ok > 0 and result.load.errors == 0

        @pytest.mark.infperf_serving(model=doubled, input_shape=(8,), max_batch=[8], users=[2], queue_delay_us=1000,
                                     shm=True, ceiling=False, {FAST})
        def test_shm(infperf_serving):  # the same server: inputs through Triton's system shared memory
            result = infperf_serving.run()
            assert result.load.ok > 0 and result.load.errors == 0

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:busy_2ms", input_shape=(8,), users=[2],
                                     slo=100.0, ceiling=False, duration_s=1.0, warmup_s=0.2)
        def test_slo(infperf_serving):
            assert infperf_serving.run().slo_rate > 0
        """
    )
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else None
    result = pytester.runpytest(f"--infperf-serving-python={serving_python[0]}", "--benchmark-json=out.json",
                                "--infperf-report=report.md", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*infperf serving (Triton)*", "| model | served | batcher | load | requests |*",
                                 "| doubled | python-cpu-fp32 | mb8-qd1000 | u4 |*| ok |"])
    # no region outlives the load generator (tritonclient also unlinks its regions when the process ends)
    new_shm = set(os.listdir("/dev/shm")) - shm_before if shm_before is not None else set()
    leftover = {n for n in new_shm if n.startswith("infperf-")}
    assert not leftover, f"shared-memory regions left behind: {leftover}"
    report = (pytester.path / "report.md").read_text()  # the serving cells' table in --infperf-report too
    assert "## Serving (Triton)" in report and "| mb8-qd1000 | r40 |" in report
    cells = _cells(_json(pytester))
    assert set(cells) == {"mb8-qd1000-u1", "mb8-qd1000-u2", "mb8-qd1000-u4", "mb8-qd1000-r40", "mb8-qd1000-u2-shm",
                          "mb8-u2"}
    shm = cells["mb8-qd1000-u2-shm"]["extra_info"]["infperf_serving"]
    assert shm["load"]["spec"]["shm"] is True and shm["load"]["stats"]["requests"] > 0
    first, u4, open_loop = (cells[k]["extra_info"]["infperf_serving"] for k in
                            ("mb8-qd1000-u1", "mb8-qd1000-u4", "mb8-qd1000-r40"))
    assert first["load"]["cold_start_s"] > 0 and u4["load"]["cold_start_s"] is None  # one server for the setting
    assert u4["load"]["summary"]["mean_batch"] > 1.0  # the batcher formed batches from concurrent users
    assert u4["ceiling"]["summary"]["requests_per_s"] > 0 and u4["load"]["stats"]["queue_ms"] is not None
    assert 20 < open_loop["load"]["summary"]["requests_per_s"] < 60  # Poisson arrivals at 40/s
    assert cells["mb8-qd1000-u4"]["params"] == {"infperf_case": "mb8-qd1000-u4", "model": "doubled",
                                                "serving": "triton", "max_batch": 8, "users": 4, "rate": 0.0,
                                                "batch": 1, "served": "python-cpu-fp32"}
    assert cells["mb8-qd1000-u1"]["stats"]["rounds"] == first["load"]["ok"]  # one sample per request
    slo = cells["mb8-u2"]["extra_info"]["infperf_serving"]
    assert slo["slo_ms"] == 100.0 and slo["slo_rate"] > 0 and len(slo["slo_probes"]) == 5


def test_the_gate_fails_a_slower_served_model_and_passes_the_same_one(
    pytester: pytest.Pytester, serving_python: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One save (three repeats), an A/A compare, then the served model 4x slower: throughput regresses and the cell
    fails; every verdict is in the JSON."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:busy_env", input_shape=(8,), max_batch=[4],
                                     users=[2], ceiling=False, repeats=3, duration_s=1.5, warmup_s=0.3)
        def test_served(infperf_serving):
            infperf_serving.run()
        """
    )
    args = [f"--infperf-serving-python={serving_python[0]}", "-p", "no:randomly",
            f"--benchmark-storage=file://{pytester.path / 'baselines'}"]
    monkeypatch.setenv("INFPERF_TOY_SLEEP_MS", "5")
    pytester.runpytest(*args, "--benchmark-save=base").assert_outcomes(passed=1)
    saved = next((pytester.path / "baselines").rglob("0001_base.json"))
    assert len(json.loads(saved.read_text())["benchmarks"][0]["extra_info"]["infperf_serving"]["repeats"]) == 3
    aa = pytester.runpytest(*args, "--benchmark-compare", "--benchmark-json=aa.json")
    assert aa.ret == 0, aa.stdout.str()[-3000:]
    same = _json(pytester, "aa.json")["benchmarks"][0]["extra_info"]["infperf_serving"]["verdicts"]
    assert same["throughput"]["status"] in ("unchanged", "improved", "noisy"), same
    monkeypatch.setenv("INFPERF_TOY_SLEEP_MS", "20")
    slow = pytester.runpytest(*args, "--benchmark-compare", "--benchmark-json=slow.json")
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines(["*serving throughput regression: mb4-u2: regressed*inferences/s*"])
    verdicts = _json(pytester, "slow.json")["benchmarks"][0]["extra_info"]["infperf_serving"]["verdicts"]
    assert verdicts["throughput"]["status"] == "regressed" and verdicts["throughput"]["change"] > 1.0
    assert verdicts["p99"]["change"] > 1.0 and verdicts["throughput"]["repeats"] == 3


def test_a_server_that_fails_to_start_fails_its_cells_with_its_log(
    pytester: pytest.Pytester, serving_python: tuple[str, str]
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:broken", input_shape=(4,), users=[1, 2],
                                     {FAST})
        def test_broken(infperf_serving):
            infperf_serving.run()

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:identity", input_shape=(4,), max_batch=[4],
                                     preferred=[8], {FAST})
        def test_bad_config(infperf_serving):
            infperf_serving.run()
        """
    )
    result = pytester.runpytest(f"--infperf-serving-python={serving_python[0]}", "-p", "no:randomly")
    result.assert_outcomes(failed=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*exited*before its model was ready*", "*fails to build on purpose*"])
    assert "preferred" in result.stdout.str().lower()  # Triton's own complaint about the batch sizes


def test_a_request_timeout_is_counted(pytester: pytest.Pytester, serving_python: tuple[str, str]) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:slow_2s", input_shape=(4,), users=[2],
                                     timeout_s=0.5, duration_s=2.0, warmup_s=0.0, ceiling=False)
        def test_slow(infperf_serving):
            result = infperf_serving.run()
            assert result.load.timeouts > 0 and result.load.ok == 0, result.load
        """
    )
    result = pytester.runpytest(f"--infperf-serving-python={serving_python[0]}", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_a_user_named_server(pytester: pytest.Pytester, serving_python: tuple[str, str], tmp_path: Path) -> None:
    python, libdir = serving_python
    server = TritonServer(python, libdir, model_spec("pytest_infperf.serving.toys:busy_2ms", ROOT), (6,),
                          BatcherSettings(max_batch=8, queue_delay_us=500), tmp_path / "server", model_name="theirs")
    with server:
        server.start()
        pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.infperf_serving(users=[1, 3], {FAST})
            def test_theirs(infperf_serving):
                result = infperf_serving.run()
                assert result.batcher is None and result.ceiling is None and result.load.ok > 0
            """
        )
        result = pytester.runpytest(f"--infperf-serving-python={python}", f"--infperf-triton-url={server.url}",
                                    "--infperf-triton-model=theirs", "--benchmark-json=out.json",
                                    "-p", "no:randomly", "-v")
        result.assert_outcomes(passed=2)
        cells = _cells(_json(pytester))
        assert set(cells) == {"url-u1", "url-u3"}
        assert cells["url-u3"]["extra_info"]["infperf_serving"]["load"]["stats"]["mean_batch"] > 1.0
        assert server.alive()  # not ours to stop


def test_a_server_not_ready_in_time_is_stopped(serving_python: tuple[str, str], tmp_path: Path) -> None:
    python, libdir = serving_python
    server = TritonServer(python, libdir, model_spec("pytest_infperf.serving.toys:identity", ROOT), (4,),
                          BatcherSettings(), tmp_path)
    with pytest.raises(ServerError, match="not ready after 0.5 s") as info:
        server.start(timeout_s=0.5)
    assert info.value.hung and not server.alive()


def test_the_plugin_side_imports_neither_pytriton_nor_tritonclient() -> None:
    import subprocess

    code = ("import sys, pytest_infperf.plugin, pytest_infperf.serving.plugin, pytest_infperf.serving.cell;"
            "bad = {'torch', 'tritonclient', 'pytriton', 'numpy'} & set(sys.modules);"
            "assert not bad - {'numpy'}, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_server_that_dies_under_load_is_the_cells_outcome(
    pytester: pytest.Pytester, serving_python: tuple[str, str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:crash_on_call", input_shape=(4,),
                                     users=[1], timeout_s=2.0, duration_s=1.0, warmup_s=0.2, ceiling=False)
        def test_crash(infperf_serving):
            infperf_serving.run()

        def test_after():
            pass
        """
    )
    result = pytester.runpytest(f"--infperf-serving-python={serving_python[0]}", "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*server crashed*"])


def test_a_cuda_serving_cell_skips_without_a_gpu(pytester: pytest.Pytester, serving_python: tuple[str, str]) -> None:
    from pytest_infperf import gpu

    if gpu.gpu_present():
        pytest.skip("this machine has a GPU: the cell would run")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.infperf_serving(model="pytest_infperf.serving.toys:small_cnn", input_shape=(3, 8, 8),
                                     backend="torch-cudagraph", device="cuda", precision="fp16")
        def test_served(infperf_serving):
            infperf_serving.run()
        """
    )
    result = pytester.runpytest("-rs", f"--infperf-serving-python={serving_python[0]}", "-p", "no:randomly")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*serving on cuda needs an NVIDIA GPU*"])
