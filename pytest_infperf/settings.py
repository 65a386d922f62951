"""Options and ini keys, parsed and validated once into a frozen `Settings` (usage errors name the flag)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from . import presets
from .gate import GateMode, GatePolicy
from .matrix import AUTO_DEVICE, DEVICES, PRECISIONS, Selection, parse_batches, parse_choices
from .timing import TimingPolicy

# (name, help, ini default); the command line wins over ini.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("preset", f"named matrix filling the axes not given on the command line: {', '.join(presets.PRESETS)}, "
     "or auto (gpu when a GPU is visible, else cpu); empty for none", ""),
    ("backends", "comma list of backends to measure", "torch,onnxruntime"),
    ("devices", "comma list of devices: cpu, cuda, or auto (cuda when a GPU is visible, else cpu)", "auto"),
    ("precisions", "comma list of precisions: fp32, fp16, bf16, int8", "fp32"),
    ("batches", "comma list of batch sizes", "1,8"),
    ("gate", "what a regressed cell does when comparing: fail (default), warn, off", "fail"),
    ("threshold", "relative change in percent below which a cell counts as unchanged", "10"),
    ("cold_threshold", "percent change of a cell's cold start (load + first call, export excluded) that counts",
     "100"),
    ("memory_threshold", "percent growth of a cell's peak memory that counts (with infperf_memory_threshold_mib)",
     "10"),
    ("history", "baseline runs saved under the compared run's name that the gate uses for between-run noise", "5"),
    ("reference", "cell id (e.g. torch-cpu-fp32-b16) that the table's speedup column is relative to", ""),
    ("report", "write the results (and verdicts) as markdown to this path", ""),
)
INI_ONLY: tuple[tuple[str, str, str], ...] = (
    ("noise_prior", "between-run noise (percent, sigma) assumed when the baseline has a single run, and the least "
     "sigma of host-bound cells (CPU, launch-bound GPU)", "10"),
    ("launch_bound_noise", "least between-run noise (percent, sigma) of launch-bound GPU cells", "20"),
    ("alpha", "significance level of the one-sided Mann-Whitney U test on raw samples", "0.01"),
    ("max_limit", "percent change that always counts when significant, however noisy the cell", "50"),
    ("storage", "baseline folder relative to the rootdir, used when --benchmark-storage is not given", ""),
    ("seed", "seed for model weights and inputs", "0"),
    ("min_block_time", "seconds each timed block lasts at least (amortises device synchronisation)", "0.005"),
    ("channels_last", "torch on cuda: channels_last memory format: auto (on for cuda), on, off", "auto"),
    ("tf32", "torch fp32 on cuda: TF32 matmul/convolution: default (torch's), on, off", "default"),
    ("ort_cuda_options", "extra CUDAExecutionProvider options, e.g. cudnn_conv_algo_search=HEURISTIC,prefer_nhwc=1",
     ""),
    ("memory_threshold_mib", "MiB of growth of a cell's peak memory that counts (with --infperf-memory-threshold)",
     "64"),
    ("memory", "sample memory per cell (RSS; NVML and torch's allocator on a GPU): on, off", "on"),
    ("check_outputs", "compare each cell's output with an fp32 torch reference: on, off", "on"),
)


@dataclass(frozen=True)
class BackendOptions:
    """Knobs the backends read; recorded with each cell."""

    channels_last: str = "auto"
    tf32: str = "default"
    ort_cuda_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Settings:
    selection: Selection
    gate: GateMode
    policy: GatePolicy
    history: int
    seed: int
    timing: TimingPolicy
    storage: str
    preset: str
    reference: str
    report: str
    backend_options: BackendOptions
    check_outputs: bool
    memory: bool


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("infperf", "inference performance (pytest-infperf)")
    for name, help_text, default in OPTIONS:
        flag = f"--infperf-{name.replace('_', '-')}"
        group.addoption(flag, dest=f"infperf_{name}", default=None, help=f"{help_text} (ini infperf_{name}; "
                        f"default {default})")
        parser.addini(f"infperf_{name}", help_text, default=default)
    for name, help_text, default in INI_ONLY:
        parser.addini(f"infperf_{name}", help_text, default=default)


def _raw(config: pytest.Config, name: str) -> tuple[str, str]:
    """Value and the name to blame in an error: the flag when given on the command line, else the ini key."""
    value = getattr(config.option, f"infperf_{name}", None)
    if value is not None:
        return str(value), f"--infperf-{name.replace('_', '-')}"
    return str(config.getini(f"infperf_{name}")), f"ini infperf_{name}"


def _number(config: pytest.Config, name: str, low: float, high: float, integer: bool = False) -> float:
    raw, where = _raw(config, name)
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise pytest.UsageError(f"{where}: {raw!r} is not {kind}; give {kind} from {low:g} to {high:g}") from None
    if not low <= value <= high:
        raise pytest.UsageError(f"{where}: {raw} is out of range; give a value from {low:g} to {high:g}")
    return value


def _axis(config: pytest.Config, name: str, preset: str) -> tuple[str, str]:
    """An axis: the command line, else the preset, else ini."""
    if getattr(config.option, f"infperf_{name}", None) is None and preset:
        return presets.PRESETS[preset][name], f"--infperf-preset={preset} ({name})"
    return _raw(config, name)


def _choice(config: pytest.Config, name: str, choices: tuple[str, ...]) -> str:
    raw, where = _raw(config, name)
    chosen = parse_choices(where, raw, choices)
    if len(chosen) != 1:
        raise pytest.UsageError(f"{where}: give one value, not {raw!r}; choose one of {', '.join(choices)}")
    return chosen[0]


def _pairs(config: pytest.Config, name: str) -> tuple[tuple[str, str], ...]:
    raw, where = _raw(config, name)
    pairs = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"{where}: {item!r} is not key=value; write e.g. cudnn_conv_algo_search=HEURISTIC")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def load(
    config: pytest.Config,
    backend_names: tuple[str, ...],
    benchmark_options: dict[str, object],
    gpu_present: bool,
) -> Settings:
    raw, where = _raw(config, "preset")
    preset = ""
    if raw.strip():
        preset = presets.resolve(_choice(config, "preset", (*presets.PRESETS, presets.AUTO)), gpu_present)
    raw, where = _axis(config, "backends", preset)
    backends = parse_choices(where, raw, backend_names)
    raw, where = _axis(config, "devices", preset)
    devices = parse_choices(where, raw, (*DEVICES, AUTO_DEVICE))
    raw, where = _axis(config, "precisions", preset)
    precisions = parse_choices(where, raw, PRECISIONS)
    raw, where = _axis(config, "batches", preset)
    batches = parse_batches(where, raw)
    gate = GateMode(_choice(config, "gate", tuple(m.value for m in GateMode)))

    policy = GatePolicy(
        threshold=_number(config, "threshold", 0, 1000) / 100,
        alpha=_number(config, "alpha", 1e-9, 0.5),
        noise_prior=_number(config, "noise_prior", 0, 1000) / 100,
        launch_bound_noise=_number(config, "launch_bound_noise", 0, 1000) / 100,
        cold_threshold=_number(config, "cold_threshold", 0, 100000) / 100,
        memory_threshold=_number(config, "memory_threshold", 0, 100000) / 100,
        memory_threshold_mib=_number(config, "memory_threshold_mib", 0, 10**7),
        max_limit=_number(config, "max_limit", 1, 10000) / 100,
    )
    min_rounds = int(benchmark_options.get("min_rounds", 5))  # type: ignore[call-overload]
    max_time = float(benchmark_options.get("max_time", 1.0))  # type: ignore[arg-type]
    min_time = float(benchmark_options.get("min_time", 0.0))  # type: ignore[arg-type]
    timing = TimingPolicy(
        min_rounds=max(1, min_rounds),
        max_time=max_time,
        min_block_time=max(min_time, _number(config, "min_block_time", 0, 10)),
    )
    return Settings(
        selection=Selection(backends, devices, precisions, batches),
        gate=gate,
        policy=policy,
        history=int(_number(config, "history", 1, 100, integer=True)),
        seed=int(_number(config, "seed", 0, 2**31 - 1, integer=True)),
        timing=timing,
        storage=str(config.getini("infperf_storage")),
        preset=preset,
        reference=_raw(config, "reference")[0].strip(),
        report=_raw(config, "report")[0].strip(),
        backend_options=BackendOptions(
            channels_last=_choice(config, "channels_last", ("auto", "on", "off")),
            tf32=_choice(config, "tf32", ("default", "on", "off")),
            ort_cuda_options=_pairs(config, "ort_cuda_options"),
        ),
        check_outputs=_choice(config, "check_outputs", ("on", "off")) == "on",
        memory=_choice(config, "memory", ("on", "off")) == "on",
    )
