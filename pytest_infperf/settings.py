"""Options and ini keys, parsed and validated once into a frozen `Settings` (usage errors name the flag)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from . import presets
from .backends.options import BackendOptions
from .compare.gate import GateMode, GatePolicy
from .matrix import AUTO_DEVICE, DEVICES, PRECISIONS, Selection, parse_batches, parse_choices
from .measure.timing import TimingPolicy

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
    ("repeats", "independent measurements of each cell, spread over the session (passes over the matrix, each in "
     "its own worker process); a run is judged by its fastest repeat, and their spread is its noise", "3"),
    ("reference", "cell id (e.g. torch-cpu-fp32-b16) that the table's speedup column is relative to", ""),
    ("threads", "intra-op threads of torch and ONNX Runtime (torch.set_num_threads, intra_op_num_threads); 0: the "
     "libraries' default (one per core). Part of the machine fingerprint when set. On a small shared machine fewer "
     "threads than cores keep a CPU cell's time from depending on what else runs there", "0"),
    ("report", "write the results (and verdicts) as markdown to this path", ""),
    ("plot", "write PNG plots (time per image and memory vs batch, current vs baseline) into this folder", ""),
    ("memory_limit", "MiB of peak memory for the recommendation line's 'fastest within a memory limit'", ""),
    ("concurrency", "comma list of concurrent users per cell, each on its own session and CUDA stream", "1"),
    ("max_batch", "find the largest batch that runs per backend x device x precision x shape, growing up to "
     "this batch (0: off)", "0"),
    ("timeout", "seconds one cell may run before it is stopped and recorded as a timeout (0: no limit)", "1800"),
    ("isolate", "run cells in a child worker process, so that a crash, hang or OOM becomes that cell's outcome "
     "and the session goes on: on, off", "on"),
)
INI_ONLY: tuple[tuple[str, str, str], ...] = (
    ("noise_prior", "least between-run noise (percent, sigma) of CPU cells, and with one repeat per run the noise "
     "assumed with fewer than three baseline runs", "10"),
    ("launch_bound_noise", "one repeat per run: least between-run noise (percent, sigma) of launch-bound GPU "
     "cells", "20"),
    ("repeat_floor", "several repeats per run: least noise (percent, sigma) of the fastest-repeat figure of "
     "launch-bound GPU cells", "4"),
    ("device_floor", "least noise (percent, sigma) of a device-bound GPU cell's figure between sessions", "1"),
    ("repeat_order", "how a cell's repeats are spread: interleaved (a pass over the whole matrix per repeat, before "
     "the tests report; the default) or consecutive (each test measures its repeats in turn; always under xdist)",
     "interleaved"),
    ("confirm_repeats", "extra repeats, in the session's worker processes in turn, taken for a cell whose repeats "
     "suggest a slowdown, before it is judged (0: none)", "3"),
    ("host_wait", "seconds a session may wait, in all, for a slow host to recover when a CPU cell still looks slower "
     "after its confirmation repeats: it waits 15 s, takes one more repeat, and again, until the cell is cleared or "
     "the seconds are spent (0: never wait)", "60"),
    ("cold_floor_ms", "milliseconds a cold start must also grow by to count as a regression", "250"),
    ("clock_tolerance", "percent by which a device-bound GPU cell's SM clock may differ from the baseline's before "
     "the cell is unstable", "15"),
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
    ("check_outputs", "compare each cell's output with an fp32 reference (torch; onnxruntime for .onnx models): "
                      "on, off", "on"),
    ("trt_workspace_mib", "TensorRT family: builder workspace limit in MiB (tensorrt: MemoryPoolType.WORKSPACE, "
     "onnxruntime-trt: trt_max_workspace_size, torch-tensorrt: workspace_size): default (the library's) or an "
     "integer", "default"),
    ("trt_opt_level", "TensorRT family: builder optimization level 0-5: default (TensorRT's, 3) or an integer",
     "default"),
    ("trt_aux_streams", "TensorRT family: most auxiliary streams per inference: default (TensorRT's heuristic) or "
     "an integer (0: none)", "default"),
    ("trt_cuda_graph", "tensorrt: replay execute_async_v3 as a CUDA graph; onnxruntime-trt: trt_cuda_graph_enable: "
     "on, off", "off"),
    ("trt_profile", "TensorRT family optimization profile: sweep (one engine from batch 1 up to the largest batch, "
     "tuned for the largest) or cell (one engine per batch, tuned for it)", "sweep"),
    ("trt_max_batch", "largest batch of the sweep profile: auto (the largest of --infperf-batches) or an integer",
     "auto"),
    ("xdist_cpu", "allow CPU cells under pytest -n (they share cores and disturb each other): on, off", "off"),
)


@dataclass(frozen=True)
class Settings:
    selection: Selection
    gate: GateMode
    gate_policy: GatePolicy
    history: int
    seed: int
    timing_policy: TimingPolicy
    storage: str
    preset: str
    reference: str
    report: str
    backend_options: BackendOptions
    check_outputs: bool
    memory: bool
    plot: str = ""
    memory_limit_mib: float | None = None
    max_batch: int = 0
    cell_timeout: float = 0.0
    isolate: bool = True
    xdist_cpu: bool = False
    repeats: int = 1
    repeat_order: str = "interleaved"
    confirm: int = 0
    host_wait: float = 0.0  # seconds a session may wait for a slow host before confirming a CPU cell again
    batches_from_cli: bool = False  # --infperf-batches given: it wins over a test's own batches= (marker)


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


def _optional_number(config: pytest.Config, name: str, low: float, high: float) -> float | None:
    raw, _ = _raw(config, name)
    return _number(config, name, low, high) if raw.strip() else None


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


def _default_or_int(config: pytest.Config, name: str, low: int, high: int, word: str = "default") -> int | None:
    """An integer knob that may be left to the library (``word``, returned as None)."""
    raw, where = _raw(config, name)
    if raw.strip() == word:
        return None
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise pytest.UsageError(f"{where}: {raw!r} is neither {word} nor an integer; give {word} or an integer "
                                f"from {low} to {high}") from None
    if not low <= value <= high:
        raise pytest.UsageError(f"{where}: {value} is out of range; give {word} or an integer from {low} to {high}")
    return value


def _plot_folder(config: pytest.Config) -> str:
    raw, where = _raw(config, "plot")
    if raw.strip():
        from .report.plots import require_matplotlib

        require_matplotlib(where)  # now, not after minutes of measuring
    return raw.strip()


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
    raw, batches_where = _axis(config, "batches", preset)
    batches = parse_batches(batches_where, raw)
    raw, where = _raw(config, "concurrency")
    concurrency = parse_batches(where, raw, what="concurrency")
    gate = GateMode(_choice(config, "gate", tuple(m.value for m in GateMode)))

    gate_policy = GatePolicy(
        threshold=_number(config, "threshold", 0, 1000) / 100,
        alpha=_number(config, "alpha", 1e-9, 0.5),
        noise_prior=_number(config, "noise_prior", 0, 1000) / 100,
        launch_bound_noise=_number(config, "launch_bound_noise", 0, 1000) / 100,
        cold_threshold=_number(config, "cold_threshold", 0, 100000) / 100,
        memory_threshold=_number(config, "memory_threshold", 0, 100000) / 100,
        memory_threshold_mib=_number(config, "memory_threshold_mib", 0, 10**7),
        max_limit=_number(config, "max_limit", 1, 10000) / 100,
        repeat_floor=_number(config, "repeat_floor", 0, 1000) / 100,
        device_floor=_number(config, "device_floor", 0, 1000) / 100,
        cold_floor_s=_number(config, "cold_floor_ms", 0, 10**7) / 1000,
        clock_tolerance=_number(config, "clock_tolerance", 0, 1000) / 100,
    )
    repeats = int(_number(config, "repeats", 1, 100, integer=True))
    min_rounds = int(benchmark_options.get("min_rounds", 5))  # type: ignore[call-overload]
    max_time = float(benchmark_options.get("max_time", 1.0))  # type: ignore[arg-type]
    min_time = float(benchmark_options.get("min_time", 0.0))  # type: ignore[arg-type]
    timing_policy = TimingPolicy(
        min_rounds=max(1, min_rounds),
        max_time=max_time / repeats,  # --benchmark-max-time is the cell's measuring time, shared by its repeats
        min_block_time=max(min_time, _number(config, "min_block_time", 0, 10)),
    )
    return Settings(
        selection=Selection(backends, devices, precisions, batches, concurrency),
        gate=gate,
        gate_policy=gate_policy,
        history=int(_number(config, "history", 1, 100, integer=True)),
        seed=int(_number(config, "seed", 0, 2**31 - 1, integer=True)),
        timing_policy=timing_policy,
        storage=str(config.getini("infperf_storage")),
        preset=preset,
        reference=_raw(config, "reference")[0].strip(),
        report=_raw(config, "report")[0].strip(),
        backend_options=BackendOptions.flat(
            channels_last=_choice(config, "channels_last", ("auto", "on", "off")),
            tf32=_choice(config, "tf32", ("default", "on", "off")),
            ort_cuda_options=_pairs(config, "ort_cuda_options"),
            threads=int(_number(config, "threads", 0, 1024, integer=True)),
            trt_workspace_mib=_default_or_int(config, "trt_workspace_mib", 1, 2**24),
            trt_opt_level=_default_or_int(config, "trt_opt_level", 0, 5),
            trt_aux_streams=_default_or_int(config, "trt_aux_streams", 0, 64),
            trt_cuda_graph=_choice(config, "trt_cuda_graph", ("on", "off")) == "on",
            trt_profile=_choice(config, "trt_profile", ("sweep", "cell")),
            trt_max_batch=_default_or_int(config, "trt_max_batch", 1, 2**20, word="auto") or max(batches),
        ),
        check_outputs=_choice(config, "check_outputs", ("on", "off")) == "on",
        memory=_choice(config, "memory", ("on", "off")) == "on",
        plot=_plot_folder(config),
        memory_limit_mib=_optional_number(config, "memory_limit", 1, 10**9),
        max_batch=int(_number(config, "max_batch", 0, 2**20, integer=True)),
        cell_timeout=_number(config, "timeout", 0, 7 * 24 * 3600),
        isolate=_choice(config, "isolate", ("on", "off")) == "on",
        xdist_cpu=_choice(config, "xdist_cpu", ("on", "off")) == "on",
        repeats=repeats,
        repeat_order=_choice(config, "repeat_order", ("interleaved", "consecutive")),
        confirm=int(_number(config, "confirm_repeats", 0, 100, integer=True)),
        host_wait=_number(config, "host_wait", 0, 24 * 3600),
        batches_from_cli=batches_where == "--infperf-batches",
    )
