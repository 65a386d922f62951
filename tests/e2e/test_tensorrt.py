"""The TensorRT family against stand-ins at the library boundary (tests/trt_standin.py): no machine here has TensorRT.

The tensorrt backend runs end to end on the CPU against the stand-in (the device-generic code path; the backend itself
refuses cpu cells): the stand-in computes with ONNX Runtime at the addresses the backend binds, so the output check is
real. What these tests cannot show is that real TensorRT behaves like the stand-in: docs/tensorrt.md lists those calls.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402,F401  # imported before pytester's in-process runs, which cannot re-import C extensions
import trt_standin  # noqa: E402

from pytest_infperf.artifacts.engine_cache import ShapeProfile, cache_key, parse_version  # noqa: E402
from pytest_infperf.artifacts.models import ModelSpec  # noqa: E402
from pytest_infperf.backends import make_backend  # noqa: E402
from pytest_infperf.backends import ort_tensorrt_backend as ort_trt  # noqa: E402
from pytest_infperf.backends import tensorrt_backend as trt_backend  # noqa: E402
from pytest_infperf.matrix import Case  # noqa: E402
from pytest_infperf.measure.runner import run_cell  # noqa: E402
from pytest_infperf.measure.timing import TimingPolicy  # noqa: E402
from pytest_infperf.settings import BackendOptions  # noqa: E402

SHAPE = (3, 16, 16)


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.body(torch.relu(self.stem(x))).mean((2, 3)))


def tiny() -> Tiny:
    return Tiny()


@pytest.fixture
def source():
    return ModelSpec.from_marker(tiny, "tiny").resolve(Path("."), 0)


@pytest.fixture
def trt(monkeypatch):
    module = trt_standin.make_tensorrt("10.9.0.34")
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


def cell(backend: str, source, cache: Path, precision: str = "fp32", batch: int = 4, **options):
    """One cell through the plugin's runner on the CPU (device-generic path), output checked against torch fp32."""
    case = Case(backend, "cpu", precision, batch, SHAPE)
    impl = make_backend(backend, BackendOptions.flat(**options))
    impl.prepare(source)
    return run_cell(f"t::{case.id}", case, impl, source, TimingPolicy(min_rounds=2, max_time=0.02, warmup_max_calls=3),
                    cache, 0, reference=source.reference_output, memory=False)


def in_order(names: list[str], expected: list[str]) -> bool:
    it = iter(names)
    return all(any(name == want for name in it) for want in expected)


# --- tensorrt ------------------------------------------------------------------------------------------------------


def test_cell_builds_once_then_reruns_from_the_engine_cache(trt, source, tmp_path):
    first = cell("tensorrt", source, tmp_path)
    assert first.check.ok and first.check.max_rel_error < 1e-5
    phases, details = dict(first.cold.phases), dict(first.details)
    assert {"export_s", "build_s", "deserialize_s", "context_s"} <= set(phases)
    assert details["engine_cache"] == "miss (built)" and details["io"] == "device"
    assert trt.builds == 1
    assert in_order(trt.record.names(), [
        "Builder", "Builder.create_network", "OnnxParser", "OnnxParser.parse_from_file",
        "Builder.create_builder_config", "Builder.create_optimization_profile", "IOptimizationProfile.set_shape",
        "IBuilderConfig.add_optimization_profile", "IBuilderConfig.create_timing_cache",
        "IBuilderConfig.set_timing_cache", "Builder.build_serialized_network", "ITimingCache.serialize",
        "Runtime.deserialize_cuda_engine", "ICudaEngine.create_execution_context",
        "IExecutionContext.set_input_shape", "IExecutionContext.set_tensor_address",
        "IExecutionContext.execute_async_v3",
    ])
    assert ("Builder.create_network", (0,)) in trt.record.calls  # explicit batch by default on 10.x
    assert ("IOptimizationProfile.set_shape", ("input", (1, *SHAPE), (4, *SHAPE), (4, *SHAPE))) in trt.record.calls

    rerun = cell("tensorrt", source, tmp_path)
    assert trt.builds == 1, "a rerun must deserialize the cached engine, not build"
    assert "build_s" not in dict(rerun.cold.phases) and dict(rerun.details)["engine_cache"] == "hit"
    assert rerun.check.ok
    assert not trt.record.errors


def test_one_sweep_engine_serves_every_batch_and_cell_profiles_build_per_batch(trt, source, tmp_path):
    for batch in (1, 2, 8):
        assert cell("tensorrt", source, tmp_path, batch=batch, trt_max_batch=8).check.ok
    assert trt.builds == 1  # profile 1..8 covers the sweep
    for batch in (1, 2):
        result = cell("tensorrt", source, tmp_path, batch=batch, trt_profile="cell")
        assert dict(result.details)["profile"]["opt"][0] == batch
    assert trt.builds == 3


def plan(**change):
    base = dict(onnx_path=Path("m.onnx"), model_digest="abc", profile=ShapeProfile.for_cell(SHAPE, 4, 8),
                precision="fp32", strongly_typed=False, flags=(), workspace_mib=None, opt_level=None, aux_streams=None)
    return trt_backend.BuildPlan(**{**base, **change})


GPU = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


@pytest.mark.parametrize(("what", "parts"), [
    ("precision", plan(precision="fp16", flags=("FP16",)).key_parts(GPU, "10.9.0.34")),
    ("precision alone (strongly typed: no flag differs)", plan(precision="int8").key_parts(GPU, "10.9.0.34")),
    ("workspace", plan(workspace_mib=1024).key_parts(GPU, "10.9.0.34")),
    ("opt level", plan(opt_level=5).key_parts(GPU, "10.9.0.34")),
    ("aux streams", plan(aux_streams=0).key_parts(GPU, "10.9.0.34")),
    ("profile", plan(profile=ShapeProfile.for_cell(SHAPE, 4, 16)).key_parts(GPU, "10.9.0.34")),
    ("model bytes", plan(model_digest="abd").key_parts(GPU, "10.9.0.34")),
    ("typing", plan(strongly_typed=True).key_parts(GPU, "10.9.0.34")),
    ("gpu", plan().key_parts({**GPU, "name": "NVIDIA H200"}, "10.9.0.34")),
    ("tensorrt version", plan().key_parts(GPU, "10.10.0.31")),
])
def test_engine_key_changes_with_everything_that_shapes_the_engine(what, parts):
    assert cache_key(parts) != cache_key(plan().key_parts(GPU, "10.9.0.34")), what


def test_engine_key_ignores_the_model_path_but_not_its_bytes():
    assert cache_key(plan(onnx_path=Path("elsewhere.onnx")).key_parts(GPU, "10")) == cache_key(
        plan().key_parts(GPU, "10"))


def test_changed_options_build_again_and_reach_the_builder_config(trt, source, tmp_path):
    cell("tensorrt", source, tmp_path)
    calls = trt.record.names()
    for setter in ("IBuilderConfig.set_memory_pool_limit", "IBuilderConfig.builder_optimization_level",
                   "IBuilderConfig.max_aux_streams", "IBuilderConfig.set_flag"):
        assert setter not in calls  # defaults are TensorRT's own
    result = cell("tensorrt", source, tmp_path, trt_workspace_mib=512, trt_opt_level=5, trt_aux_streams=2)
    assert trt.builds == 2
    calls = trt.record.calls
    assert ("IBuilderConfig.set_memory_pool_limit", (trt.MemoryPoolType.WORKSPACE, 512 << 20)) in calls
    assert ("IBuilderConfig.builder_optimization_level", (5,)) in calls
    assert ("IBuilderConfig.max_aux_streams", (2,)) in calls
    details = dict(result.details)
    assert (details["workspace_mib"], details["opt_level"], details["aux_streams_max"]) == (512, 5, 2)


@pytest.mark.parametrize(("precision", "flags", "model"), [
    ("fp32", [], "-fp32.onnx"), ("fp16", ["FP16"], "-fp32.onnx"), ("bf16", ["BF16"], "-fp32.onnx"),
    ("int8", ["INT8"], "-int8-qdq.onnx"),
])
def test_precision_sets_its_flag_and_int8_builds_from_the_qdq_model(trt, source, tmp_path, precision, flags, model):
    result = cell("tensorrt", source, tmp_path, precision=precision)
    assert [args[0] for name, args in trt.record.calls if name == "IBuilderConfig.set_flag"] == flags
    details = dict(result.details)
    assert details["builder_flags"] == flags and details["model"].endswith(model)
    assert result.check.ok, result.check
    if precision == "int8":
        assert "quantize_s" in dict(result.cold.phases)


def test_int8_flag_without_a_qdq_model_is_refused_before_building(trt, source, tmp_path, monkeypatch):
    real = trt_backend.TensorRTBackend._model_path

    def fp32_model(self, case, src, cache_dir, strong, phases, inputs=None):  # a bug: the fp32 model for int8
        return real(self, Case(case.backend, case.device, "fp32", case.batch, case.input_shape), src, cache_dir,
                    strong, phases, inputs)

    monkeypatch.setattr(trt_backend.TensorRTBackend, "_model_path", fp32_model)
    with pytest.raises(RuntimeError, match="the INT8 flag needs a Q/DQ model"):
        cell("tensorrt", source, tmp_path, precision="int8")
    assert trt.builds == 0


def test_int8_needs_the_tensorrt_qdq_layout(trt, source, tmp_path, monkeypatch):
    """ONNX Runtime's default Q/DQ layout (int32 bias DequantizeLinear) is what TensorRT's parser refuses."""
    import functools

    from pytest_infperf.artifacts import quantize

    monkeypatch.setattr(quantize, "Calibration", functools.partial(quantize.Calibration, tensorrt_layout=False))
    with pytest.raises(RuntimeError, match="ONNX parser rejected .*only activation types allowed"):
        cell("tensorrt", source, tmp_path, precision="int8")
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    assert cell("tensorrt", source, tmp_path, precision="int8").check.ok


def test_stand_in_refuses_int8_without_qdq_and_precision_flags_on_strongly_typed(trt, source, tmp_path):
    path, _ = source.onnx_path(SHAPE, "fp32", tmp_path)
    for creation, flag, message in [(0, "INT8", "without Q/DQ"), (2, "FP16", "strongly typed")]:
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(creation)
        assert trt.OnnxParser(network, logger).parse_from_file(str(path))
        config = builder.create_builder_config()
        config.set_flag(getattr(trt.BuilderFlag, flag))
        profile = builder.create_optimization_profile()
        profile.set_shape("input", (1, *SHAPE), (2, *SHAPE), (2, *SHAPE))
        config.add_optimization_profile(profile)
        assert builder.build_serialized_network(network, config) is None
        assert message in trt.record.errors[-1]


def test_a_missing_optimization_profile_fails_the_build(trt, source, tmp_path, monkeypatch):
    """The stand-in refuses a dynamic-batch network without a profile, as TensorRT does: forgetting it fails."""
    monkeypatch.setattr(trt.IBuilderConfig, "add_optimization_profile", lambda self, profile: 0)
    with pytest.raises(RuntimeError, match="could not build an engine"):
        cell("tensorrt", source, tmp_path)
    assert "no optimization profile has been defined" in trt.record.errors[-1]


def test_a_profile_that_does_not_cover_the_batch_is_an_error(trt, source, tmp_path, monkeypatch):
    real = trt_backend.TensorRTBackend.plan

    def narrow(self, case, path, version, inputs=None):
        return dataclasses.replace(real(self, case, path, version, inputs), profile=ShapeProfile.for_cell(SHAPE, 2, 2))

    monkeypatch.setattr(trt_backend.TensorRTBackend, "plan", narrow)
    with pytest.raises(RuntimeError, match=r"input 'input' of shape \(4, 3, 16, 16\) is outside the engine's profile"):
        cell("tensorrt", source, tmp_path, batch=4)


def test_timing_cache_is_persisted_and_reused_and_a_corrupt_one_is_replaced(trt, source, tmp_path):
    first = cell("tensorrt", source, tmp_path)
    assert dict(first.details)["timing_cache"] == "new"
    folder = tmp_path / "infperf-trt"
    (timing,) = folder.glob("timing-*.cache")
    for engine in folder.glob("*.engine"):
        engine.unlink()
    second = cell("tensorrt", source, tmp_path)
    assert dict(second.details)["timing_cache"] == "loaded" and trt.record.timing_hits == 1
    timing.write_bytes(b"not a timing cache")
    for engine in folder.glob("*.engine"):
        engine.unlink()
    third = cell("tensorrt", source, tmp_path)
    assert dict(third.details)["timing_cache"] == "unreadable (new)" and third.check.ok


def test_engine_of_another_tensorrt_version_is_rebuilt(source, tmp_path, monkeypatch):
    old = trt_standin.make_tensorrt("10.9.0.34")
    monkeypatch.setitem(sys.modules, "tensorrt", old)
    cell("tensorrt", source, tmp_path)
    new = trt_standin.make_tensorrt("10.13.0.35")
    monkeypatch.setitem(sys.modules, "tensorrt", new)
    result = cell("tensorrt", source, tmp_path)
    assert new.builds == 1 and dict(result.details)["engine_cache"] == "miss (built)"  # the key holds the version
    engines = sorted((tmp_path / "infperf-trt").glob("*.engine"), key=lambda p: p.stat().st_mtime)
    engines[-1].write_bytes(engines[0].read_bytes())  # a stale plan under the current key
    again = cell("tensorrt", source, tmp_path)
    assert new.builds == 2 and dict(again.details)["engine_cache"] == "unreadable (rebuilt)" and again.check.ok
    assert "not compatible with this version of TensorRT" in new.record.errors[-1]


def test_old_tensorrt_gives_the_version_it_needs_and_the_fix(source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standin.make_tensorrt("8.6.1"))
    case = Case("tensorrt", "cuda", "fp32", 1, SHAPE)
    reason = make_backend("tensorrt", BackendOptions()).unavailable_reason(case, source)
    assert reason.startswith("tensorrt-cuda-fp32-b1: tensorrt 8.6.1 is installed; this backend is written against "
                             "the TensorRT 10.0 Python API (Builder.create_network(0)")
    assert "pip install -U 'tensorrt-cu12>=10'" in reason
    with pytest.raises(RuntimeError, match="tensorrt 8.6.1 is installed"):
        cell("tensorrt", source, tmp_path)


def test_missing_tensorrt_and_cpu_cells_skip_with_the_fix(trt, source, monkeypatch):
    impl = make_backend("tensorrt", BackendOptions())
    cpu = Case("tensorrt", "cpu", "fp32", 1, SHAPE)
    assert impl.unavailable_reason(cpu, source).endswith("runs on NVIDIA GPUs only; select --infperf-devices=cuda")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert "TensorRT is not installed; pip install tensorrt-cu12" in impl.unavailable_reason(cpu, source)


def test_tensorrt_11_builds_strongly_typed_from_the_precision_export(source, tmp_path, monkeypatch):
    trt11 = trt_standin.make_tensorrt("11.0.0")
    monkeypatch.setitem(sys.modules, "tensorrt", trt11)
    assert not hasattr(trt11.BuilderFlag, "FP16")  # using it would fail, as on real TensorRT 11
    result = cell("tensorrt", source, tmp_path, precision="fp16")
    assert ("Builder.create_network", (2,)) in trt11.record.calls
    assert "IBuilderConfig.set_flag" not in trt11.record.names()
    details = dict(result.details)
    assert details["typing"] == "strong" and details["model"].endswith("-fp16.onnx")
    assert details["io_dtypes"] == {"input": "float16", "output": "float16"}
    assert result.check.ok, result.check
    int8 = cell("tensorrt", source, tmp_path, precision="int8")
    assert dict(int8.details)["builder_flags"] == [] and int8.check.ok


def test_tensorrt_11_skips_reduced_precision_of_a_given_onnx_file(tmp_path, monkeypatch, source):
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standin.make_tensorrt("11.0.0"))
    path, _ = source.onnx_path(SHAPE, "fp32", tmp_path)
    from_file = ModelSpec.from_marker(str(path), "net").resolve(tmp_path, 0)
    impl = make_backend("tensorrt", BackendOptions())
    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    reason = impl.unavailable_reason(Case("tensorrt", "cuda", "fp16", 1, SHAPE), from_file)
    assert "builds strongly typed networks only" in reason and "use fp32 or int8" in reason
    assert impl.unavailable_reason(Case("tensorrt", "cuda", "int8", 1, SHAPE), from_file) is None


def test_tensorrt_calls_table_names_the_versions():
    needed = dict(trt_backend.TRT_CALLS)
    assert needed["IExecutionContext.execute_async_v3(stream_handle)"] == "8.5"
    assert max(parse_version(v) for v in needed.values()) == trt_backend.MIN_VERSION


# --- onnxruntime-trt -----------------------------------------------------------------------------------------------


def ort_case(precision: str = "fp32", batch: int = 4) -> Case:
    return Case("onnxruntime-trt", "cpu", precision, batch, SHAPE)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("knobs", [{}, {"trt_workspace_mib": 1024, "trt_opt_level": 4, "trt_aux_streams": 0,
                                       "trt_cuda_graph": True}])
def test_ort_trt_provider_options_are_the_documented_ones(source, tmp_path, precision, knobs):
    impl = make_backend("onnxruntime-trt", BackendOptions.flat(trt_max_batch=16, **knobs))
    case = ort_case(precision)
    path = impl._model_path(case, source, tmp_path, {})
    options, keyed = impl.trt_options(case, path, tmp_path, "input")
    trt_standin.check_ort_trt_options(options)
    assert options["trt_fp16_enable"] == str(precision == "fp16")
    assert options["trt_int8_enable"] == str(precision == "int8")
    assert path.name.endswith("-int8-qdq.onnx" if precision == "int8" else "-fp32.onnx")
    assert options["trt_profile_min_shapes"] == "input:1x3x16x16"
    assert options["trt_profile_opt_shapes"] == options["trt_profile_max_shapes"] == "input:16x3x16x16"
    assert options["trt_engine_cache_enable"] == options["trt_timing_cache_enable"] == "True"
    assert Path(options["trt_engine_cache_path"]).is_dir() and Path(options["trt_timing_cache_path"]).is_dir()
    if knobs:
        assert options["trt_max_workspace_size"] == str(1024 << 20)
        assert (options["trt_builder_optimization_level"], options["trt_auxiliary_streams"]) == ("4", "0")
        assert options["trt_cuda_graph_enable"] == "True"
    else:
        assert not {"trt_max_workspace_size", "trt_builder_optimization_level", "trt_auxiliary_streams",
                    "trt_cuda_graph_enable"} & set(options)


@pytest.mark.parametrize(("options", "problem"), [
    ({"trt_fp16": "True"}, "unknown option 'trt_fp16'"),
    ({"trt_fp16_enable": "1"}, "wants 'True' or 'False'"),
    ({"trt_max_workspace_size": "1GB"}, "wants an integer"),
    ({"trt_profile_min_shapes": "input:1x3x16x16"}, "min, opt and max shapes together"),
    ({"trt_profile_min_shapes": "input:8x3", "trt_profile_opt_shapes": "input:4x3",
      "trt_profile_max_shapes": "input:8x3"}, "not min <= opt <= max"),
    ({"trt_profile_min_shapes": "1x3x16x16", "trt_profile_opt_shapes": "input:4x3",
      "trt_profile_max_shapes": "input:8x3"}, "wants 'input:1x3x224x224"),
])
def test_ort_trt_option_check_catches_what_ort_would_reject(options, problem):
    with pytest.raises(AssertionError, match=problem):
        trt_standin.check_ort_trt_options(options)


def test_ort_trt_engine_folder_is_keyed_by_what_shapes_the_engines(source, tmp_path, monkeypatch):
    def folder(precision="fp32", **knobs):
        impl = make_backend("onnxruntime-trt", BackendOptions.flat(**{"trt_max_batch": 8, **knobs}))
        case = ort_case(precision)
        path = impl._model_path(case, source, tmp_path, {})
        return impl.trt_options(case, path, tmp_path, "input")[0]["trt_engine_cache_path"]

    base = folder()
    assert folder() == base  # the sweep reuses it: no rebuild between batches
    changed = [folder("fp16"), folder("int8"), folder(trt_workspace_mib=64), folder(trt_opt_level=1),
               folder(trt_aux_streams=0), folder(trt_profile="cell"), folder(trt_max_batch=16)]
    assert len({base, *changed}) == 1 + len(changed)
    assert folder(trt_cuda_graph=True) == base  # a runtime option, not an engine option
    monkeypatch.setattr(ort_trt, "tensorrt_libraries", lambda: (True, "10.13.0.35"))
    assert folder() != base  # ORT itself would not notice a TensorRT upgrade
    monkeypatch.setattr(onnxruntime, "__version__", "9.9.9")
    assert len({folder(), base}) == 2


def test_ort_trt_session_that_falls_back_is_an_error(source, tmp_path, monkeypatch):
    seen = {}
    real = onnxruntime.InferenceSession

    def session(path, *args, providers=None, **kwargs):  # the CPU build ignores the TensorRT EP, as a broken one
        if not isinstance(providers[0], tuple):  # the quantizer's own sessions
            return real(path, *args, providers=providers, **kwargs)
        name, options = providers[0]
        seen["name"], seen["options"] = name, options
        trt_standin.check_ort_trt_options(options)
        return real(path, *args, providers=["CPUExecutionProvider"], **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    monkeypatch.setattr(ort_trt, "_preload_cuda_libraries", lambda: None)
    impl = make_backend("onnxruntime-trt", BackendOptions())
    with pytest.raises(RuntimeError, match=r"fell back to \['CPUExecutionProvider'\]; TensorrtExecutionProvider did "
                                           "not load"):
        impl.load(ort_case("int8"), source, torch.randn(4, *SHAPE).numpy(), tmp_path)
    assert seen["name"] == "TensorrtExecutionProvider" and seen["options"]["trt_int8_enable"] == "True"


def test_ort_trt_skips_name_the_fix(source, monkeypatch):
    impl = make_backend("onnxruntime-trt", BackendOptions())
    case = Case("onnxruntime-trt", "cuda", "fp32", 1, SHAPE)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])  # a CPU build
    assert "no TensorrtExecutionProvider" in impl.unavailable_reason(case, source)
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort_trt.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    monkeypatch.setattr(ort_trt, "tensorrt_libraries", lambda: (False, "unknown"))
    reason = impl.unavailable_reason(case, source)
    assert "TensorRT's libraries (libnvinfer) are not installed; pip install onnxruntime-gpu tensorrt-cu12" in reason
    monkeypatch.setattr(ort_trt, "tensorrt_libraries", lambda: (True, "10.9.0.34"))
    assert impl.unavailable_reason(case, source) is None
    assert "bf16 is not wired" in impl.unavailable_reason(Case("onnxruntime-trt", "cuda", "bf16", 1, SHAPE), source)
    monkeypatch.setattr(onnxruntime, "__version__", "1.17.3")
    assert "need onnxruntime-gpu >= 1.18" in impl.unavailable_reason(case, source)


# --- torch-tensorrt ------------------------------------------------------------------------------------------------


@pytest.fixture
def torch_trt(monkeypatch):
    module = trt_standin.make_torch_tensorrt("2.9.0")
    monkeypatch.setitem(sys.modules, "torch_tensorrt", module)
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standin.make_tensorrt("10.13.0.35"))
    return module


def test_torch_tensorrt_compiles_for_the_cell_saves_and_reruns_from_the_saved_program(torch_trt, source, tmp_path):
    first = cell("torch-tensorrt", source, tmp_path, batch=2, trt_workspace_mib=256, trt_opt_level=3)
    assert first.check.ok and first.check.max_rel_error < 1e-5
    (compiled,) = [args for name, args in torch_trt.record.calls if name == "compile"]
    ir, shapes, precisions, kwargs = compiled
    assert ir == "dynamo" and shapes == (((2, *SHAPE),) * 3,) and precisions == {torch.float32}
    kwargs = dict(kwargs)
    assert kwargs["workspace_size"] == 256 << 20 and kwargs["optimization_level"] == 3
    assert kwargs["cache_built_engines"] is False and kwargs["reuse_cached_engines"] is False
    assert kwargs["timing_cache_path"].startswith(str(tmp_path / "infperf-torch-trt"))
    assert {"build_s", "save_s", "deserialize_s"} <= set(dict(first.cold.phases))
    assert torch_trt.record.counts["save"] == 1

    rerun = cell("torch-tensorrt", source, tmp_path, batch=2, trt_workspace_mib=256, trt_opt_level=3)
    assert torch_trt.record.counts["compile"] == 1, "a rerun loads the saved program"
    assert dict(rerun.details)["program_cache"] == "hit" and "build_s" not in dict(rerun.cold.phases)
    assert rerun.check.ok
    cell("torch-tensorrt", source, tmp_path, batch=4, trt_workspace_mib=256, trt_opt_level=3)
    cell("torch-tensorrt", source, tmp_path, batch=2, precision="bf16", trt_workspace_mib=256, trt_opt_level=3)
    assert torch_trt.record.counts["compile"] == 3  # the cell's shape and precision are compiled for


def test_torch_tensorrt_skips_name_the_fix(torch_trt, source, monkeypatch, tmp_path):
    impl = make_backend("torch-tensorrt", BackendOptions())
    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    assert impl.unavailable_reason(Case("torch-tensorrt", "cuda", "fp16", 1, SHAPE), source) is None
    assert "ModelOpt" in impl.unavailable_reason(Case("torch-tensorrt", "cuda", "int8", 1, SHAPE), source)
    assert "NVIDIA GPUs only" in impl.unavailable_reason(Case("torch-tensorrt", "cpu", "fp32", 1, SHAPE), source)
    path, _ = source.onnx_path(SHAPE, "fp32", tmp_path)
    onnx_source = ModelSpec.from_marker(str(path), "net").resolve(tmp_path, 0)
    assert "is an ONNX file" in impl.unavailable_reason(Case("torch-tensorrt", "cuda", "fp32", 1, SHAPE), onnx_source)
    monkeypatch.setattr(torch_trt, "__version__", "2.4.1")
    assert "torch-tensorrt 2.4.1 is installed; this backend needs >= 2.5" in impl.unavailable_reason(
        Case("torch-tensorrt", "cuda", "fp32", 1, SHAPE), source)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)
    assert "torch-tensorrt is not installed; pip install torch-tensorrt" in impl.unavailable_reason(
        Case("torch-tensorrt", "cuda", "fp32", 1, SHAPE), source)


# --- the plugin: options and skips --------------------------------------------------------------------------------

TINY_TEST = '''
import pytest
import torch


def tiny():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())


@pytest.mark.infperf(model=tiny, input_shape=(3, 8, 8))
def test_tiny(infperf):
    infperf.benchmark()
'''


def test_trt_family_cells_skip_with_the_install_command_here(pytester: pytest.Pytester):
    pytester.makepyfile(test_tiny=TINY_TEST)
    result = pytester.runpytest("--infperf-backends=tensorrt,onnxruntime-trt,torch-tensorrt",
                                "--infperf-devices=cuda", "--infperf-batches=1", "-rs")
    result.assert_outcomes(skipped=3)
    out = result.stdout.str()
    has_trt = "tensorrt" in sys.modules and sys.modules["tensorrt"] is not None
    if not has_trt:
        assert "tensorrt-cuda-fp32-b1: TensorRT is not installed; pip install tensorrt-cu12" in out
    assert "onnxruntime-trt-cuda-fp32-b1:" in out and "pip install onnxruntime-gpu tensorrt-cu12" in out
    assert "torch-tensorrt-cuda-fp32-b1:" in out


CONFTEST_PRINT_OPTIONS = '''
def pytest_collection_finish(session):
    from pytest_infperf.session import InfperfSession
    options = InfperfSession.of(session.config).settings.backend_options.tensorrt
    print("OPTIONS", options.workspace_mib, options.opt_level, options.aux_streams,
          options.cuda_graph, options.profile, options.max_batch)
'''


def test_trt_ini_keys_reach_the_backend_options(pytester: pytest.Pytester):
    from helpers import FAKE_TEST

    pytester.makepyfile(test_perf=FAKE_TEST)
    pytester.makeconftest(CONFTEST_PRINT_OPTIONS)
    default = pytester.runpytest("-p", "infperf_fake", "--infperf-backends=fake", "--infperf-batches=2,16",
                                 "--collect-only", "-s")
    default.stdout.fnmatch_lines(["OPTIONS None None None False sweep 16"])
    set_all = pytester.runpytest("-p", "infperf_fake", "--infperf-backends=fake", "--infperf-batches=2,16",
                                 "--collect-only", "-s", "-o", "infperf_trt_workspace_mib=1024",
                                 "-o", "infperf_trt_opt_level=5", "-o", "infperf_trt_aux_streams=0",
                                 "-o", "infperf_trt_cuda_graph=on", "-o", "infperf_trt_profile=cell",
                                 "-o", "infperf_trt_max_batch=64")
    set_all.stdout.fnmatch_lines(["OPTIONS 1024 5 0 True cell 64"])


@pytest.mark.parametrize(("ini", "message"), [
    ("infperf_trt_opt_level=7", "*ini infperf_trt_opt_level: 7 is out of range; give default or an integer from 0 "
                                "to 5*"),
    ("infperf_trt_workspace_mib=8G", "*ini infperf_trt_workspace_mib: '8G' is neither default nor an integer*"),
    ("infperf_trt_aux_streams=-1", "*ini infperf_trt_aux_streams: -1 is out of range*"),
    ("infperf_trt_cuda_graph=yes", "*ini infperf_trt_cuda_graph: unknown 'yes'; choose from on, off*"),
    ("infperf_trt_profile=dynamic", "*ini infperf_trt_profile: unknown 'dynamic'; choose from sweep, cell*"),
    ("infperf_trt_max_batch=0", "*ini infperf_trt_max_batch: 0 is out of range; give auto or an integer*"),
])
def test_bad_trt_ini_values_are_usage_errors_naming_the_key(pytester: pytest.Pytester, ini, message):
    from helpers import FAKE_TEST

    pytester.makepyfile(test_perf=FAKE_TEST)
    result = pytester.runpytest("-p", "infperf_fake", "--infperf-backends=fake", "-o", ini)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# --- several / integer inputs (inputs=) ----------------------------------------------------------------------------


class TwoInputs(torch.nn.Module):
    """Token ids (int64), a mask (int64) and a float scale; outputs of shapes (batch, seq, 4) and (batch, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(50, 8)
        self.lin = torch.nn.Linear(8, 4)

    def forward(self, input_ids, attention_mask, scale):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1).to(self.lin.weight.dtype)
        out = self.lin(h) * scale.unsqueeze(1)
        return out, out.mean(1)


def two_inputs() -> TwoInputs:
    return TwoInputs()


def two_spec(seq: list[int]):
    """The specs of TwoInputs: token ids below 50, a mask of ones, a float scale; the named dim seq over ``seq``."""
    from pytest_infperf import inputs as inputs_mod

    return inputs_mod.parse({"input_ids": dict(shape=("seq",), dtype="int64", low=0, high=50),
                             "attention_mask": dict(shape=("seq",), dtype="int64", fill=1),
                             "scale": dict(shape=(4,))}, {"seq": seq}, "sequence", "seq")


def test_several_inputs_get_a_profile_each_and_one_engine_serves_every_sequence_length(trt, tmp_path):
    spec = two_spec([4, 8])
    source = ModelSpec.from_marker(two_inputs, "two").resolve(Path("."), 0)
    impl = make_backend("tensorrt", BackendOptions.flat(trt_max_batch=8))
    impl.prepare(source)
    results = []
    for seq, batch in ((4, 2), (8, 4)):
        case = Case("tensorrt", "cpu", "fp32", batch, (seq,), dims=(("seq", seq),), inputs=spec)
        results.append(run_cell(f"t::{case.id}", case, impl, source,
                                TimingPolicy(min_rounds=2, max_time=0.02, warmup_max_calls=3), tmp_path, 0,
                                reference=source.reference_output, memory=False))
    for result in results:  # both outputs checked against torch fp32: the bindings are right
        assert result.check.ok and result.check.max_rel_error < 1e-5, result.check
    profile = dict(results[0].details)["profile"]
    assert profile == {"input_ids": {"min": [1, 4], "opt": [8, 8], "max": [8, 8]},
                       "attention_mask": {"min": [1, 4], "opt": [8, 8], "max": [8, 8]},
                       "scale": {"min": [1, 4], "opt": [8, 4], "max": [8, 4]}}
    shapes = {args[0]: args[1:] for name, args in trt.record.calls if name == "IOptimizationProfile.set_shape"}
    assert shapes["input_ids"] == ((1, 4), (8, 8), (8, 8)) and shapes["scale"] == ((1, 4), (8, 4), (8, 4))
    assert trt.builds == 1, "one engine (sweep profile over batch and seq) serves both cells"
    set_shapes = [args for name, args in trt.record.calls if name == "IExecutionContext.set_input_shape"]
    assert ("input_ids", (4, 8)) in set_shapes and ("scale", (4, 4)) in set_shapes
    assert not trt.record.errors


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_ort_trt_takes_several_inputs_with_a_profile_each(tmp_path, precision):
    from pytest_infperf import inputs as inputs_mod

    spec = two_spec([4, 8])
    source = ModelSpec.from_marker(two_inputs, "two").resolve(Path("."), 0)
    impl = make_backend("onnxruntime-trt", BackendOptions.flat(trt_max_batch=8))
    case = Case("onnxruntime-trt", "cpu", precision, 2, (4,), dims=(("seq", 4),), inputs=spec)
    generated = inputs_mod.generate(spec, 2, {"seq": 4}, seed=0)
    path = impl._model_path(case, source, tmp_path, {}, generated)
    assert path.name.endswith("-int8-qdq.onnx" if precision == "int8" else "-fp32.onnx")
    options, keyed = impl.trt_options(case, path, tmp_path, "", generated)
    trt_standin.check_ort_trt_options(options)
    assert options["trt_profile_min_shapes"] == "input_ids:1x4,attention_mask:1x4,scale:1x4"
    assert options["trt_profile_opt_shapes"] == options["trt_profile_max_shapes"] == \
        "input_ids:8x8,attention_mask:8x8,scale:8x4"
    assert keyed["profile"]["input_ids"] == {"min": [1, 4], "opt": [8, 8], "max": [8, 8]}
    # the engine folder is keyed by every input's profile: another sweep of seq builds other engines
    wider = Case("onnxruntime-trt", "cpu", precision, 2, (4,), dims=(("seq", 4),), inputs=two_spec([4, 16]))
    assert impl.trt_options(wider, path, tmp_path, "", generated)[1]["engine_folder"] != keyed["engine_folder"]


# --- torch-tensorrt with several / integer inputs -------------------------------------------------------------------


class GapInputs(TwoInputs):
    """TwoInputs behind a forward whose second parameter is no input: ids go positionally, the others by keyword."""

    def forward(self, input_ids, offset=None, attention_mask=None, scale=None):
        return super().forward(input_ids, attention_mask, scale)


class KeywordInputs(TwoInputs):
    """TwoInputs behind a forward whose first parameter is no input: every input goes by keyword."""

    def forward(self, offset=None, input_ids=None, attention_mask=None, scale=None):
        return super().forward(input_ids, attention_mask, scale)


class LooseInputs(TwoInputs):
    """TwoInputs taking its inputs through **kwargs."""

    def forward(self, input_ids, **kwargs):
        return super().forward(input_ids, kwargs["attention_mask"], kwargs["scale"])


def gap_inputs() -> GapInputs:
    return GapInputs()


def keyword_inputs() -> KeywordInputs:
    return KeywordInputs()


def loose_inputs() -> LooseInputs:
    return LooseInputs()


def inputs_cell(backend: str, factory, cache: Path, spec, seq: int, batch: int, precision: str = "fp32", **options):
    """A cell of ``factory`` with inputs ``spec`` at seq=``seq`` through the runner on the CPU, output checked."""
    source = ModelSpec.from_marker(factory, factory.__name__).resolve(Path("."), 0)
    case = Case(backend, "cpu", precision, batch, (seq,), dims=(("seq", seq),), inputs=spec)
    impl = make_backend(backend, BackendOptions.flat(**{"trt_max_batch": 8, **options}))
    impl.prepare(source)
    return run_cell(f"t::{case.id}", case, impl, source, TimingPolicy(min_rounds=2, max_time=0.02, warmup_max_calls=3),
                    cache, 0, reference=source.reference_output, memory=False)


def traced(module) -> list[tuple]:
    """The stand-in's record of each compile's trace: (positional Inputs, keyword Inputs, Dims by parameter)."""
    return [args for name, args in module.record.calls if name == "dynamo.trace"]


IDS, SCALE = ((1, 4), (8, 8), (8, 8)), ((1, 4), (8, 4), (8, 4))  # sweep profiles: batch 1..8, seq 4..8, opt = max


@pytest.mark.parametrize(("factory", "version", "positional", "keywords"), [
    (two_inputs, "2.9.0", ("input_ids", "attention_mask", "scale"), ()),
    (gap_inputs, "2.9.0", ("input_ids",), ("attention_mask", "scale")),
    (keyword_inputs, "2.10.0", (), ("input_ids", "attention_mask", "scale")),
])
def test_torch_tensorrt_compiles_several_inputs_with_an_input_each_and_reruns_from_the_saved_program(
        monkeypatch, tmp_path, factory, version, positional, keywords):
    torch_trt = trt_standin.make_torch_tensorrt(version)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", torch_trt)
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standin.make_tensorrt("10.13.0.35"))
    spec = two_spec([4, 8])
    first = inputs_cell("torch-tensorrt", factory, tmp_path, spec, seq=4, batch=2)
    assert first.check.ok and first.check.max_rel_error < 1e-5, first.check  # both outputs, every input bound right
    ((args, kwargs, dims),) = traced(torch_trt)
    by_name = {name: (shapes, dtype) for name, shapes, dtype in (*args, *kwargs)}
    assert [name for name, _, _ in args] == list(positional) and [name for name, _, _ in kwargs] == list(keywords)
    assert by_name == {"input_ids": (IDS, torch.int64), "attention_mask": (IDS, torch.int64),
                       "scale": (SCALE, torch.float32)}  # an Input per input, min/opt/max from the sweep
    # unnamed Inputs: the tracer's Dims are '_<axis>', so batch and seq are one symbol each across the inputs
    assert dims["input_ids"] == dims["attention_mask"] == {0: ("_0", 1, 8), 1: ("_1", 4, 8)}
    assert dims["scale"] == {0: ("_0", 1, 8)}
    details = dict(first.details)
    assert details["program_cache"] == "miss (compiled)" and details["arg_inputs"] == list(positional)
    assert details["profile"]["scale"] == {"min": [1, 4], "opt": [8, 4], "max": [8, 4]}
    assert details["io_dtypes"] == {"input_ids": "int64", "attention_mask": "int64", "scale": "float32"}
    ((saved_args, saved_kwargs, _),) = [a for n, a in torch_trt.record.calls if n == "save.inputs"]
    assert len(saved_args) == len(positional) and [k for k, _ in saved_kwargs] == list(keywords)  # as compiled
    assert {"build_s", "save_s", "deserialize_s"} <= set(dict(first.cold.phases))

    rerun = inputs_cell("torch-tensorrt", factory, tmp_path, spec, seq=4, batch=2)
    assert torch_trt.record.counts["compile"] == 1, "a rerun loads the saved program"
    assert dict(rerun.details)["program_cache"] == "hit" and rerun.check.ok
    other = inputs_cell("torch-tensorrt", factory, tmp_path, spec, seq=8, batch=2)
    assert torch_trt.record.counts["compile"] == 2 and other.check.ok, "another dims assignment: its own program"
    assert dict(other.details)["program_file"] != dict(first.details)["program_file"]
    assert dict(other.details)["profile"] == dict(first.details)["profile"]  # one sweep profile for both cells
    assert len(list((tmp_path / "infperf-torch-trt").glob("*.ep"))) == 2


def test_torch_tensorrt_several_inputs_float_ones_in_the_cell_precision_and_keyed_by_the_sweep(torch_trt, tmp_path):
    result = inputs_cell("torch-tensorrt", two_inputs, tmp_path, two_spec([4, 8]), seq=4, batch=2, precision="bf16")
    assert result.check.ok, result.check
    ((args, _, _),) = traced(torch_trt)
    assert [dtype for _, _, dtype in args] == [torch.int64, torch.int64, torch.bfloat16]
    (compiled,) = [a for n, a in torch_trt.record.calls if n == "compile"]
    assert compiled[2] == {torch.bfloat16}
    wider = inputs_cell("torch-tensorrt", two_inputs, tmp_path, two_spec([4, 16]), seq=4, batch=2, precision="bf16")
    assert torch_trt.record.counts["compile"] == 2, "another sweep of seq is another profile: compiled again"
    assert dict(wider.details)["profile"]["input_ids"]["max"] == [8, 16]


def inputs_case(spec, dims: dict[str, int]) -> Case:
    first = spec.first_shape(dims)
    return Case("torch-tensorrt", "cuda", "fp32", 2, first, dims=tuple(dims.items()), inputs=spec)


def test_torch_tensorrt_takes_inputs_models_it_can_compile(torch_trt, monkeypatch):
    from pytest_infperf.inputs import unsupported_reason

    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    impl = make_backend("torch-tensorrt", BackendOptions.flat(trt_max_batch=8))
    case = inputs_case(two_spec([4, 8]), {"seq": 4})
    assert unsupported_reason(case, impl) is None  # no longer "runs one float input (input_shape=)"
    for factory in (two_inputs, gap_inputs):
        source = ModelSpec.from_marker(factory, factory.__name__).resolve(Path("."), 0)
        assert impl.unavailable_reason(case, source) is None


def test_torch_tensorrt_needs_a_positional_input_before_2_10(torch_trt, monkeypatch, tmp_path):
    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    impl = make_backend("torch-tensorrt", BackendOptions.flat(trt_max_batch=8))
    source = ModelSpec.from_marker(keyword_inputs, "keyword_inputs").resolve(Path("."), 0)
    case = inputs_case(two_spec([4, 8]), {"seq": 4})
    reason = impl.unavailable_reason(case, source)
    assert reason.startswith("torch-tensorrt-cuda-fp32-b2-seq4: torch-tensorrt 2.9.0 compiles with at least one "
                             "positional input") and "forward's first parameter 'offset'" in reason
    assert "pip install -U torch-tensorrt (>= 2.10" in reason
    monkeypatch.setattr(torch_trt, "__version__", "2.10.0")
    assert impl.unavailable_reason(case, source) is None
    # what the skip spares: torch-tensorrt 2.9's compile refuses keyword inputs alone (the stand-in as the real one)
    model = keyword_inputs()
    old = trt_standin.make_torch_tensorrt("2.9.0")
    spec = old.Input(min_shape=(1, 4), opt_shape=(8, 4), max_shape=(8, 4), dtype=torch.float32)
    with pytest.raises(AssertionError, match="'arg_inputs' and 'inputs' should not both be None"):
        old.compile(model, ir="dynamo", arg_inputs=[], kwarg_inputs={"scale": spec})


def test_torch_tensorrt_skips_inputs_through_kwargs(torch_trt, monkeypatch):
    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    impl = make_backend("torch-tensorrt", BackendOptions.flat(trt_max_batch=8))
    source = ModelSpec.from_marker(loose_inputs, "loose_inputs").resolve(Path("."), 0)
    reason = impl.unavailable_reason(inputs_case(two_spec([4, 8]), {"seq": 4}), source)
    assert reason == ("torch-tensorrt-cuda-fp32-b2-seq4: input(s) 'attention_mask', 'scale' reach forward through "
                      "**kwargs; torch-tensorrt's tracer keys each input's dynamic axes by a named forward parameter; "
                      "name them in forward's signature")


class Pair(torch.nn.Module):
    def forward(self, a, b):
        return a.float().sum(-1) + b.float().sum(-1)


class Shifted(torch.nn.Module):
    """``b`` carries seq at axis 2, ``a`` at axis 1; the model makes them equal."""

    def forward(self, a, b):
        return a.float() + b.float()[:, 0, :]


def pair() -> Pair:
    return Pair()


def shifted() -> Shifted:
    return Shifted()


@pytest.mark.parametrize(("factory", "specs", "dims", "message", "refusal"), [
    (pair, {"a": dict(shape=("n",)), "b": dict(shape=("m",))}, {"n": [2, 4], "m": [3, 6]},
     "dims 'n' ('a') and 'm' ('b') are both axis 1, and torch-tensorrt's tracer names a dynamic axis by its position "
     "(torch.export.Dim '_1'), so it would make them one", "Found different definitions Dim"),
    (shifted, {"a": dict(shape=("seq",)), "b": dict(shape=(2, "seq"))}, {"seq": [2, 4]},
     "dim 'seq' is axis 1 of 'a' and axis 2 of 'b', and torch-tensorrt's tracer names a dynamic axis by its "
     "position, so they would be two torch.export Dims that the model makes equal", "must always be equal"),
])
def test_torch_tensorrt_skips_dims_its_tracer_cannot_tell_apart(torch_trt, monkeypatch, tmp_path, factory, specs, dims,
                                                                message, refusal):
    from pytest_infperf import inputs as inputs_mod
    from pytest_infperf.backends import torch_tensorrt_backend as tt_backend

    spec = inputs_mod.parse(specs, dims, None, None)
    monkeypatch.setattr(trt_backend.gpu, "cuda_unavailable_reason", lambda cell_id: None)
    impl = make_backend("torch-tensorrt", BackendOptions.flat(trt_max_batch=8))
    source = ModelSpec.from_marker(factory, factory.__name__).resolve(Path("."), 0)
    first = {name: values[0] for name, values in dims.items()}
    reason = impl.unavailable_reason(inputs_case(spec, first), source)
    assert reason.startswith(f"{inputs_case(spec, first).id}: {message}")
    assert "measure this model with tensorrt or onnxruntime-trt" in reason
    # what the skip spares: without it the compile fails (the stand-in traces with real torch.export)
    monkeypatch.setattr(tt_backend, "axis_problem", lambda profiles, spec: None)
    case = Case("torch-tensorrt", "cpu", "fp32", 2, spec.first_shape(first), dims=tuple(first.items()), inputs=spec)
    generated = inputs_mod.generate(spec, 2, first, seed=0)
    with pytest.raises(Exception, match=refusal):  # torch.export's own words
        impl.load(case, source, generated, tmp_path)


def test_stand_in_trace_refuses_named_inputs_whose_batch_the_model_shares(torch_trt):
    """Why the backend leaves Input.name empty: named Inputs get a Dim each, and torch.export refuses Dims that the
    model makes equal (the batch of every input), as it would under the real torch_tensorrt.dynamo.trace."""
    def named(name, low, high):
        return torch_trt.Input(min_shape=low, opt_shape=high, max_shape=high, dtype=torch.int64, name=name)

    with pytest.raises(Exception, match="must always be equal"):
        torch_trt.compile(TwoInputs(), ir="dynamo",
                          arg_inputs=[named("input_ids", (1, 4), (8, 8)), named("attention_mask", (1, 4), (8, 8)),
                                      torch_trt.Input(min_shape=(1, 4), opt_shape=(8, 4), max_shape=(8, 4),
                                                      name="scale")])
