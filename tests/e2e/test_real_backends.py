"""torch and onnxruntime on the CPU with a small real model: real timing, real exports, real regressions."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402,F401  # imported before pytester's in-process runs, which cannot re-import C extensions
from helpers import TINY_TEST as TINY  # noqa: E402

ARGS = ("--infperf-backends=torch,onnxruntime", "--infperf-devices=cpu", "--infperf-batches=4",
        "--benchmark-max-time=0.4", "--benchmark-min-rounds=15")


@pytest.fixture
def tiny_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\ninfperf_storage = baselines\n")
    pytester.makepyfile(test_tiny=TINY)
    return pytester


def test_real_slowdown_fails_the_gate_and_aa_passes(tiny_suite, monkeypatch):
    monkeypatch.setenv("TINY_BLOCKS", "4")
    for _ in range(3):
        assert tiny_suite.runpytest(*ARGS, "--benchmark-save=main").ret == 0
    same = tiny_suite.runpytest(*ARGS, "--benchmark-compare")
    assert same.ret == 0, same.stdout.str()
    assert "regressed" not in same.stdout.str()

    monkeypatch.setenv("TINY_BLOCKS", "12")  # about 2.5x the work
    # one 15 s wait for a slow host (patience.HostWait), then a repeat in a fresh worker process: still slower
    slow = tiny_suite.runpytest(*ARGS, "--benchmark-compare", "-o", "infperf_host_wait=15")
    assert slow.ret == pytest.ExitCode.TESTS_FAILED, slow.stdout.str()
    slow.assert_outcomes(failed=2)
    slow.stdout.fnmatch_lines([
        "*regressed cells (gate: fail):*",
        "*test_tiny?torch-cpu-fp32-b4?*regressed*1 repeat(s) taken after waiting 15 s for a slow host (still slower)*",
        "*test_tiny?onnxruntime-cpu-fp32-b4?*regressed*",
    ])
    slow.stdout.fnmatch_lines(["*time: 2 cells, 6 repeats + 7 confirmation repeats (15 s waited for a slow host)*"])
    import json  # the memory probe's reading for every block, kept beside the samples (hostspeed.MemoryProbe)

    (saved,) = (tiny_suite.path / "baselines").glob("*/0001_main.json")
    for bench in json.loads(saved.read_text())["benchmarks"]:
        for repeat in bench["extra_info"]["infperf"]["repeats"]:
            assert repeat["host_probe_kind"] == "cpu-memory"
            assert len(repeat["host_probes"]) == len(repeat["samples"]) and min(repeat["host_probes"]) > 0


def test_threads_set_the_intra_op_threads_and_key_the_baselines(tiny_suite, monkeypatch):
    import json

    monkeypatch.setenv("TINY_BLOCKS", "4")
    args = (*ARGS, "--benchmark-max-time=0.05", "--infperf-repeats=1")
    assert tiny_suite.runpytest(*args, "--benchmark-save=all").ret == 0
    one = tiny_suite.runpytest(*args, "--infperf-threads=1", "--benchmark-save=one")
    assert one.ret == 0, one.stdout.str()
    (default_file,) = (tiny_suite.path / "baselines").glob("*/0001_all.json")
    (one_file,) = (tiny_suite.path / "baselines").glob("*/0001_one.json")
    assert default_file.parent != one_file.parent  # another thread count is another machine: never compared
    assert json.loads(one_file.read_text())["machine_info"]["infperf"]["fields"]["threads"] == "1"
    threads = {b["extra_info"]["infperf"]["backend"]: b["extra_info"]["infperf"]["details"]["threads"]
               for b in json.loads(one_file.read_text())["benchmarks"]}
    assert threads == {"torch": 1, "onnxruntime": 1}  # as torch and the ONNX Runtime session report it
    others = [r["other_cpu_cores"] for b in json.loads(one_file.read_text())["benchmarks"]
              for r in b["extra_info"]["infperf"]["repeats"]]
    assert others and all(isinstance(c, float) and c >= 0.0 for c in others)  # what else ran during the blocks
    defaults = {b["extra_info"]["infperf"]["backend"]: b["extra_info"]["infperf"]["details"]["threads"]
                for b in json.loads(default_file.read_text())["benchmarks"]}
    assert defaults["onnxruntime"] == "default" and defaults["torch"] == torch.get_num_threads()
    compared = tiny_suite.runpytest(*args, "--infperf-threads=1", "--benchmark-compare=0001")
    assert compared.ret == 0, compared.stdout.str()
    assert "no baseline" not in compared.stdout.str()


def test_onnx_export_is_cached_and_invalidated_by_a_model_change(tiny_suite, monkeypatch):
    args = ("--infperf-backends=onnxruntime", "--infperf-devices=cpu", "--infperf-batches=1,2",
            "--benchmark-max-time=0.05")
    monkeypatch.setenv("TINY_BLOCKS", "4")
    first = tiny_suite.runpytest(*args, "--benchmark-save=x")
    assert first.ret == 0
    cache = sorted((tiny_suite.path / ".pytest_cache" / "d" / "infperf-onnx").glob("*.onnx"))
    assert len(cache) == 1  # one export serves both batches (dynamic batch axis)
    assert tiny_suite.runpytest(*args).ret == 0
    assert len(list(cache[0].parent.glob("*.onnx"))) == 1
    monkeypatch.setenv("TINY_BLOCKS", "5")
    assert tiny_suite.runpytest(*args).ret == 0
    assert len(list(cache[0].parent.glob("*.onnx"))) == 2
    saved = next((tiny_suite.path / "baselines").glob("*/0001_x.json")).read_text()
    assert '"export_s"' in saved  # the first cell paid for the export, recorded as cold start


def test_onnx_file_model_runs_on_onnxruntime_and_torch_skips(pytester: pytest.Pytester):
    pytester.makepyfile(tinymodel=TINY.replace("@pytest.mark.infperf", "@pytest.mark.skip\n@pytest.mark.infperf"))
    sys.path.insert(0, str(pytester.path))
    try:
        import tinymodel

        model = tinymodel.tiny().eval()
        torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(pytester.path / "tiny.onnx"),
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    finally:
        sys.path.remove(str(pytester.path))
        sys.modules.pop("tinymodel", None)
    pytester.makepyfile(test_file='''
import pytest

@pytest.mark.infperf(model="tiny.onnx", input_shape=(3, 32, 32))
def test_file(infperf):
    infperf.benchmark()
''')
    result = pytester.runpytest("test_file.py", "--infperf-devices=cpu", "--infperf-batches=2",
                                "--benchmark-max-time=0.05", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*torch-cpu-fp32-b2: model 'tiny' is an ONNX file; the torch backend needs*"])


def test_missing_backend_library_skips_with_the_install_command(tiny_suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    result = tiny_suite.runpytest("--infperf-devices=cpu", "--infperf-batches=1", "--benchmark-max-time=0.05",
                                  "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert (
        "onnxruntime-cpu-fp32-b1: onnxruntime is not installed; pip install 'pytest-infperf[onnxruntime]'"
        in result.stdout.str()
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU; the skip path is for CPU machines")
def test_cuda_without_gpu_skips_with_reason(tiny_suite):
    result = tiny_suite.runpytest("--infperf-devices=cuda", "--infperf-batches=1", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*torch-cuda-fp32-b1: CUDA is not available here*--infperf-devices=cpu*"])


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("def broken():\n    raise RuntimeError('weights missing')\n",
         "*torch-cpu-fp32-b1: model factory 'broken' raised RuntimeError: weights missing*"),
        ("def broken():\n    return 'not a module'\n",
         "*model factory 'broken' returned str, not a torch.nn.Module*"),
    ],
)
def test_broken_factory_fails_the_cell_with_a_message(pytester: pytest.Pytester, factory, message):
    pytester.makepyfile(test_broken=f'''
import pytest

{factory}

@pytest.mark.infperf(model=broken, input_shape=(3, 8, 8))
def test_b(infperf):
    infperf.benchmark()
''')
    result = pytester.runpytest("--infperf-backends=torch", "--infperf-devices=cpu", "--infperf-batches=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


WRONG_BACKEND = '''
from pytest_infperf.backends.torch_backend import TorchBackend


class WrongBackend(TorchBackend):
    """Fast but wrong: scales the model's output."""

    name = "torch-wrong"

    def load(self, case, source, inputs, cache_dir):
        session = super().load(case, source, inputs, cache_dir)
        call = session._call
        session._call = lambda x: call(x) * 1.5
        return session


def pytest_infperf_backend_names(config):
    return ["torch-wrong"]


def pytest_infperf_make_backend(config, name):
    return WrongBackend() if name == "torch-wrong" else None
'''


def test_wrong_output_fails_the_cell_and_right_output_passes(tiny_suite):
    tiny_suite.makeconftest(WRONG_BACKEND)
    result = tiny_suite.runpytest("--infperf-backends=torch,torch-wrong,onnxruntime", "--infperf-devices=cpu",
                                  "--infperf-batches=2", "--benchmark-max-time=0.05")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*torch-wrong-cpu-fp32-b2: output differs from the torch fp32 reference: max relative error * > 0.01 for fp32*",
        "*WRONG OUTPUT*",
    ])
    saved = tiny_suite.runpytest("--infperf-backends=onnxruntime", "--infperf-devices=cpu", "--infperf-batches=2",
                                 "--benchmark-max-time=0.05", "--benchmark-json=out.json")
    assert saved.ret == 0
    import json

    check = json.loads((tiny_suite.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["infperf"]
    assert check["output_check"]["ok"] and check["output_check"]["max_rel_error"] < 1e-4
