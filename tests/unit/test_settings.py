"""Direct tests of pytest_infperf.settings: ini defaults and flags parsed into a frozen Settings, with a stand-in
config (option namespace + getini), no pytest session."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from pytest_infperf import settings
from pytest_infperf.compare.gate import GateMode

BACKENDS = ("torch", "torch-compile", "onnxruntime", "tensorrt", "fake")
INI_DEFAULTS = {f"infperf_{name}": default for name, _, default in (*settings.OPTIONS, *settings.INI_ONLY)}


class Config:
    """What settings reads of a pytest.Config: ``option.infperf_<name>`` (None unless given) and ``getini``."""

    def __init__(self, flags: dict[str, str] | None = None, ini: dict[str, str] | None = None) -> None:
        self.option = SimpleNamespace(**{f"infperf_{name}": None for name, _, _ in settings.OPTIONS})
        for name, value in (flags or {}).items():
            setattr(self.option, f"infperf_{name}", value)
        self.ini = {**INI_DEFAULTS, **{f"infperf_{k}": v for k, v in (ini or {}).items()}}

    def getini(self, name: str) -> str:
        return self.ini[name]


def load(flags: dict[str, str] | None = None, ini: dict[str, str] | None = None, gpu: bool = False,
         **benchmark: object) -> settings.Settings:
    return settings.load(Config(flags, ini), BACKENDS, benchmark, gpu)  # type: ignore[arg-type]


def test_defaults_become_a_frozen_settings() -> None:
    s = load()
    assert s.selection.backends == ("torch", "onnxruntime") and s.selection.devices == ("auto",)
    assert s.selection.precisions == ("fp32",) and s.selection.batches == (1, 8) and s.selection.concurrency == (1,)
    assert s.gate is GateMode.FAIL and s.preset == "" and s.repeats == 3 and s.confirm == 3
    assert s.gate_policy.threshold == pytest.approx(0.10)  # percent on the command line, a fraction inside
    assert s.gate_policy.cold_threshold == pytest.approx(1.0) and s.gate_policy.cold_floor_s == pytest.approx(0.25)
    assert s.gate_policy.memory_threshold_mib == 64 and s.gate_policy.alpha == pytest.approx(0.01)
    assert s.check_outputs and s.memory and s.isolate and not s.xdist_cpu
    assert s.memory_limit_mib is None and s.max_batch == 0 and s.cell_timeout == 1800
    assert s.backend_options.tensorrt.max_batch == 8  # auto: the largest batch of the sweep
    assert s.backend_options.tensorrt.workspace_mib is None  # default: left to the library
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.repeats = 1  # type: ignore[misc]


def test_the_measuring_time_is_shared_by_the_repeats() -> None:
    s = load({"repeats": "4"}, max_time=2.0, min_rounds=0, min_time=0.02)
    assert s.timing_policy.max_time == pytest.approx(0.5)
    assert s.timing_policy.min_rounds == 1  # at least one round
    assert s.timing_policy.min_block_time == pytest.approx(0.02)  # --benchmark-min-time wins when larger
    assert load(max_time=1.0).timing_policy.min_block_time == pytest.approx(0.005)


def test_the_command_line_wins_over_ini_and_errors_name_where_the_value_came_from() -> None:
    assert load({"batches": "4"}, {"batches": "2"}).selection.batches == (4,)
    assert load(ini={"batches": "2, 16 2"}).selection.batches == (2, 16)  # commas or spaces, duplicates once
    with pytest.raises(pytest.UsageError, match=r"^--infperf-threshold: 'ten' is not a number; give a number"):
        load({"threshold": "ten"}, {"threshold": "ten"})
    with pytest.raises(pytest.UsageError, match=r"^ini infperf_threshold: 'ten' is not a number"):
        load(ini={"threshold": "ten"})


def test_a_preset_fills_only_the_axes_not_given_on_the_command_line() -> None:
    s = load({"preset": "gpu", "batches": "2"}, {"precisions": "int8"})
    assert s.preset == "gpu" and s.selection.devices == ("cuda",)
    assert s.selection.precisions == ("fp32", "fp16", "bf16")  # the preset wins over ini
    assert s.selection.batches == (2,)  # the command line wins over the preset
    assert s.batches_from_cli  # and over a test's own batches= (the marker's)
    assert not load({"preset": "gpu"}).batches_from_cli and not load(ini={"batches": "2"}).batches_from_cli
    assert load({"preset": "auto"}, gpu=True).preset == "gpu"
    assert load(ini={"preset": "auto"}, gpu=False).preset == "cpu"
    with pytest.raises(pytest.UsageError, match=r"--infperf-preset=gpu \(backends\): unknown 'torch-compile'"):
        settings.load(Config({"preset": "gpu"}), ("torch", "onnxruntime"), {}, True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("flags", "ini", "message"), [
    ({"repeats": "2.5"}, {}, r"--infperf-repeats: '2.5' is not an integer; give an integer from 1 to 100"),
    ({"repeats": "0"}, {}, r"--infperf-repeats: 0 is out of range; give a value from 1 to 100"),
    ({"gate": "fail,warn"}, {}, r"--infperf-gate: give one value, not 'fail,warn'; choose one of fail, warn, off"),
    ({}, {"alpha": "0.6"}, r"ini infperf_alpha: 0.6 is out of range; give a value from 1e-09 to 0.5"),
    ({}, {"trt_opt_level": "fast"}, r"ini infperf_trt_opt_level: 'fast' is neither default nor an integer; "
                                    r"give default or an integer from 0 to 5"),
    ({}, {"trt_opt_level": "6"}, r"ini infperf_trt_opt_level: 6 is out of range; give default or an integer"),
    ({}, {"trt_max_batch": "default"}, r"ini infperf_trt_max_batch: 'default' is neither auto nor an integer"),
    ({}, {"ort_cuda_options": "=1"}, r"ini infperf_ort_cuda_options: '=1' is not key=value"),
    ({"concurrency": "0"}, {}, r"--infperf-concurrency: concurrency 0 is not positive"),
    ({"memory_limit": "0"}, {}, r"--infperf-memory-limit: 0 is out of range"),
])
def test_bad_values_are_usage_errors_naming_the_flag_or_key(flags, ini, message) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        load(flags, ini)


def test_knobs_parse_into_their_families() -> None:
    s = load({"memory_limit": "512", "concurrency": "1,4", "max_batch": "256"},
             {"ort_cuda_options": " cudnn_conv_algo_search = HEURISTIC ,, prefer_nhwc=1", "trt_opt_level": "5",
              "trt_max_batch": "64", "trt_cuda_graph": "on", "channels_last": "off", "memory_limit": "9"})
    assert s.backend_options.onnxruntime.cuda_options == (("cudnn_conv_algo_search", "HEURISTIC"),
                                                          ("prefer_nhwc", "1"))
    assert s.backend_options.tensorrt.opt_level == 5 and s.backend_options.tensorrt.max_batch == 64
    assert s.backend_options.tensorrt.cuda_graph and s.backend_options.torch.channels_last == "off"
    assert s.memory_limit_mib == 512.0 and s.selection.concurrency == (1, 4) and s.max_batch == 256
    assert load({"reference": "  torch-cpu-fp32-b8 "}).reference == "torch-cpu-fp32-b8"


def test_add_options_registers_a_flag_per_option_and_an_ini_key_per_setting() -> None:
    flags: dict[str, dict[str, object]] = {}
    inis: dict[str, str] = {}

    class Group:
        def addoption(self, flag: str, **kwargs: object) -> None:
            flags[flag] = kwargs

    class Parser:
        def getgroup(self, name: str, description: str) -> Group:
            return Group()

        def addini(self, name: str, help_text: str, default: str) -> None:
            inis[name] = default

    settings.add_options(Parser())  # type: ignore[arg-type]
    assert len(flags) == len(settings.OPTIONS) and set(inis) == set(INI_DEFAULTS)
    threshold = flags["--infperf-cold-threshold"]
    assert threshold["dest"] == "infperf_cold_threshold" and threshold["default"] is None  # None: not given
    assert "(ini infperf_cold_threshold; default 100)" in str(threshold["help"])
    assert "--infperf-noise-prior" not in flags and inis["infperf_noise_prior"] == "10"  # ini only
