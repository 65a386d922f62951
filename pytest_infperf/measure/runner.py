"""Runs one cell end to end: load (cold start), bind random inputs, measure, check the output. No pytest in here."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import gpu, progress
from ..artifacts.models import ModelSource, ModelSpec
from ..backends.base import Backend
from ..errors import ModelError
from ..inputs import Inputs, generate, head
from ..matrix import Case
from . import hostspeed
from .concurrency import measure_concurrent
from .flops import flops_per_image, flops_per_sample
from .memory import MemorySampler
from .results import CellResult, ColdStart, Diagnosis, OutputCheck, Repeat
from .stats import summarize
from .timing import TimingPolicy, measure

# max |out - ref| / max |ref| allowed against an fp32 reference, per precision; fp32 allows TF32 convolutions.
# int8 (Q/DQ, quantize.py): measured 0.025-0.032 on ResNet-18 and 0.005 on the tests' tiny CNN, top-1 agreement 100 %;
# a broken int8 path measured 0.13-0.23 with top-1 agreement 0 % on ResNet-18, so 0.1 separates them. A top-1 check
# would add nothing: an error bound e keeps every argmax whose top-2 margin exceeds 2e, and flips below it are legit.
TOLERANCES = {"fp32": 1e-2, "fp16": 5e-2, "bf16": 1.5e-1, "int8": 1e-1}
LAUNCH_BOUND_RATIO = 0.8

Reference = Callable[[np.ndarray], np.ndarray]


RANDOM_SAMPLES = 512  # distinct random samples; larger batches repeat them (max-batch probes reach 10^4-10^5)


def random_inputs(case: Case, seed: int) -> np.ndarray | Inputs:
    """Several or integer inputs: `inputs.generate` (seeded, in their valid ranges). One float input: standard-normal
    inputs (never zeros: zeros run measurably faster on some kernels), reproducible per cell.
    Beyond RANDOM_SAMPLES the batch repeats its random samples: generating tens of GB of normals would take
    minutes, and a convolution's speed does not depend on whether two samples are equal.
    One float input is generated once per shape and seed in a process (`_normal_batch`): every backend and precision
    of a batch size gets the same values, and a pass over the matrix does not spend 0.2-0.3 s per batch-128 cell
    drawing the same normals again (a copy of 77 MB takes tens of ms)."""
    if case.inputs is not None:
        return generate(case.inputs, case.batch, dict(case.dims), seed)
    shape = tuple(case.input_shape)
    if case.batch * int(np.prod(shape)) * 4 > CACHED_INPUT_BYTES:  # max-batch probes: do not hold GBs
        return _draw_normals(case.batch, shape, seed)
    return _normal_batch(case.batch, shape, seed).copy()  # a copy: a model may write its input


CACHED_INPUT_BYTES = 256 * 2**20


@functools.lru_cache(maxsize=4)
def _normal_batch(batch: int, input_shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The cached draw behind `random_inputs`, read-only: the cells get copies."""
    out = _draw_normals(batch, input_shape, seed)
    out.flags.writeable = False
    return out


def _draw_normals(batch: int, input_shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    distinct = rng.standard_normal((min(batch, RANDOM_SAMPLES), *input_shape), dtype=np.float32)
    if batch <= RANDOM_SAMPLES:
        return distinct
    out = np.empty((batch, *input_shape), dtype=np.float32)
    for start in range(0, batch, RANDOM_SAMPLES):
        stop = min(start + RANDOM_SAMPLES, batch)
        out[start:stop] = distinct[: stop - start]
    return out


def _nonfinite(what: str, values: np.ndarray) -> str:
    """E.g. "output contains NaN" (or inf, or both) when ``values`` hold any; empty when every value is finite."""
    found = [name for name, test in (("NaN", np.isnan), ("inf", np.isinf)) if np.any(test(values))]
    return f"{what} contains {' and '.join(found)}" if found else ""


def check_output(output: np.ndarray | list[np.ndarray], reference: np.ndarray | list[np.ndarray], precision: str,
                 name: str) -> OutputCheck:
    """The output's error against ``reference`` (computed by ``name``, e.g. "torch fp32"): of every tensor when the
    model returns several (tuple, dict, ModelOutput: lists here), the largest. A NaN or inf in either has no finite
    error: the check fails and says which (an error of inf or nan would also be invalid JSON)."""
    tolerance = TOLERANCES.get(precision, 1e-2)
    outputs = output if isinstance(output, list) else [output]
    references = reference if isinstance(reference, list) else [reference]
    if len(outputs) != len(references):
        raise ModelError(f"the output has {len(outputs)} tensors, the {name} reference {len(references)}")
    several = len(outputs) > 1
    error = 0.0
    for index, (one, ref) in enumerate(zip(outputs, references, strict=True)):
        what = f"output {index}" if several else "output"
        out = np.asarray(one, dtype=np.float64).reshape(np.shape(ref))
        nonfinite = _nonfinite(what, out) or _nonfinite(f"reference {index}" if several else "reference",
                                                        np.asarray(ref))
        if nonfinite:
            return OutputCheck(reference=name, max_rel_error=None, tolerance=tolerance, nonfinite=nonfinite)
        scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
        if out.size:
            error = max(error, float(np.max(np.abs(out - ref))) / (scale or 1.0))
    return OutputCheck(reference=name, max_rel_error=error, tolerance=tolerance)


def reference_name(source: ModelSource) -> str:
    """What computes the fp32 reference (`ModelSource.reference_output`): torch for a torch model, onnxruntime for an
    .onnx file."""
    return "torch fp32" if source.is_torch else "onnxruntime fp32"


def timer_name(timer: object, concurrent: bool) -> str:
    """What timed a cell's samples, as pytest-benchmark's ``options.timer`` shows it: "cuda-events" for a CUDA-event
    timer (they keep the host's enqueue time beside the device time), else the host clock, e.g. "time.perf_counter".
    Concurrent users are timed per request on the host clock (`measure_concurrent`)."""
    if hasattr(timer, "host_enqueue") and not concurrent:
        return "cuda-events"
    clock = getattr(timer, "clock", time.perf_counter)
    name = getattr(clock, "__qualname__", None) or type(clock).__qualname__
    return f"{getattr(clock, '__module__', None) or type(clock).__module__}.{name}"


DIAGNOSIS_MIN_CALLS = 10
DIAGNOSIS_MIN_TIME = 0.02  # seconds of calls in the separate diagnosis block (ONNX Runtime)


def _diagnose(timer: object, samples: tuple[float, ...], session: object) -> Diagnosis | None:
    """Launch-bound or device-bound: the host's enqueue time per call against the device time per call. torch's
    CUDA-event timer records the enqueue time of each timed block; ONNX Runtime's Run waits for its stream, so its
    sessions measure it in a separate block after the timed ones (``launch_diagnosis``)."""
    host = getattr(timer, "host_enqueue", None)
    if host:
        host_s = float(np.median(host[-len(samples):]))
        device_s = float(np.median(samples))
    else:
        probe = getattr(session, "launch_diagnosis", None)
        per_call = float(np.median(samples)) if samples else 0.0
        calls = max(DIAGNOSIS_MIN_CALLS, int(DIAGNOSIS_MIN_TIME / per_call) if per_call > 0 else 0)
        measured = probe(calls) if probe is not None else None
        if measured is None:
            return None
        host_s, device_s = measured
    return Diagnosis(host_s, device_s, launch_bound=host_s >= LAUNCH_BOUND_RATIO * device_s)


def _each(*hooks: Callable[[], None] | None) -> Callable[[], None] | None:
    """One ``between_blocks`` hook that calls each given one in turn (None when there are none)."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None

    def call() -> None:
        for hook in present:
            hook()

    return call


def _torch_device() -> int:
    import torch

    return int(torch.cuda.current_device())


def _device_state(case: Case) -> tuple[tuple[str, object], ...]:
    if case.device != "cuda":
        return ()
    return tuple(sorted(gpu.device_state(_torch_device()).items()))


MEMORY_PASS_CALLS = 5
# samples of the first call checked against the fp32 reference, which runs on the CPU: enough to catch a wrong
# kernel or a batching bug, few enough that a heavy model's reference takes seconds, not minutes
CHECK_SAMPLES = 8


@dataclass(frozen=True)
class CellRequest:
    """Everything a (possibly separate) process needs to run one cell: picklable, no pytest objects."""

    nodeid: str
    case: Case
    spec: ModelSpec
    rootpath: Path
    backend: Backend
    timing_policy: TimingPolicy
    cache_dir: Path
    seed: int
    check_outputs: bool = True
    memory: bool = True


_SOURCES: dict[tuple[object, ...], ModelSource] = {}


def source_for(spec: ModelSpec, rootpath: Path, seed: int) -> ModelSource:
    """One resolved source per model in this process (its torch module, export digests and references are cached)."""
    key = (spec.kind, spec.target if spec.kind == "callable" else str(spec.target), str(rootpath), seed)
    if key not in _SOURCES:
        _SOURCES[key] = spec.resolve(rootpath, seed)
    return _SOURCES[key]


def clear_sources() -> None:
    _SOURCES.clear()


@functools.cache
def _cuda_context() -> None:
    """Create this process's CUDA context before its first cell: its cost (hundreds of ms) belongs to the process,
    not to whichever cell happens to come first, so it stays out of every cell's cold start."""
    import torch

    torch.empty(1, device="cuda")
    torch.cuda.synchronize()


def _ready(case: Case) -> None:
    if case.device == "cuda":
        with contextlib.suppress(Exception):  # no usable torch/CUDA: the backend's own load says why
            _cuda_context()


def ready_process(request: CellRequest, backends: tuple[str, ...] = ()) -> None:
    """A worker process's start-up before its first cell (WorkerPool.start runs it in every repeat slot side by
    side, so it is paid once per session, not once per pass):

    - a CUDA session imports torch and creates the CUDA context (seconds per process on the H200), and imports the
      compiler when the session has torch.compile cells (the first compiled cell of a process took 5-8 s there);
    - the first cell's model is built (`source_for`: a user's model whose construction takes seconds, e.g. 20 GEMM
      layers of 8192x8192 initialised on the CPU, took 16-20 s per pass on the H200);
    - what now exists is moved out of the garbage collector's sight (`gc.freeze`): every cell's release check runs a
      full collection, which scanned torch's and the compiler's ~400k objects again each time (0.2-0.25 s per
      repeat, ~25 s of a default GPU session on the H200). Only objects of start-up are frozen; those of a cell are
      collected as before, so a cell's leak still shows.

    Failures are left for the cells: a model that cannot be built, or a missing torch or CUDA, is said by the cell."""
    import gc

    with contextlib.suppress(Exception):
        if request.case.device == "cuda":
            _cuda_context()
            if any(name.startswith("torch-compile") for name in backends):
                import torch._dynamo  # noqa: F401
                import torch._inductor.compile_fx  # noqa: F401
        source = source_for(request.spec, request.rootpath, request.seed)
        if source.is_torch:
            source.torch_module()
    gc.collect()
    gc.freeze()


def execute_cell(request: CellRequest) -> CellResult:
    """The unit of work a worker runs: resolve the model here, prepare the backend, run the cell."""
    _ready(request.case)
    source = source_for(request.spec, request.rootpath, request.seed)
    request.backend.prepare(source)
    return run_cell(
        request.nodeid, request.case, request.backend, source, request.timing_policy, request.cache_dir, request.seed,
        reference=source.reference_output if request.check_outputs else None, memory=request.memory,
    )


def execute_repeat(request: CellRequest) -> Repeat:
    """One more independent measurement of the cell (load, warm-up, timed blocks, its memory peak), without the
    output check that the cell's full measurement does once."""
    _ready(request.case)
    source = source_for(request.spec, request.rootpath, request.seed)
    request.backend.prepare(source)
    result = run_cell(
        request.nodeid, request.case, request.backend, source, request.timing_policy, request.cache_dir, request.seed,
        reference=None, memory=request.memory, flops=False,
    )
    return result.repeats[0]


def execute_smoke(request: CellRequest) -> None:
    source = source_for(request.spec, request.rootpath, request.seed)
    request.backend.prepare(source)
    smoke_cell(request.case, request.backend, source, request.cache_dir, request.seed)


def run_cell(
    nodeid: str,
    case: Case,
    backend: Backend,
    source: ModelSource,
    timing_policy: TimingPolicy,
    cache_dir: Path,
    seed: int,
    reference: Reference | None = None,
    memory: bool = True,
    flops: bool = True,
) -> CellResult:
    """One measurement of the cell. ``reference``: check the output against it; ``flops``: count the model's FLOPs
    (seconds on the CPU for a heavy model: the cell's full measurement counts them, its other repeats need not)."""
    started_at = time.time()
    started = time.perf_counter()
    lap = _Laps()
    inputs = random_inputs(case, seed)
    lap("inputs_s")
    before = _device_state(case)
    sampler = MemorySampler(case.device) if memory else None
    concurrent = None
    with sampler if sampler is not None else contextlib.nullcontext(), contextlib.ExitStack() as sessions_open:
        start = time.perf_counter()
        progress.report(f"loading ({backend.name})")
        first = sessions_open.enter_context(backend.load(case, source, inputs, cache_dir))
        first.synchronize()
        load_s = time.perf_counter() - start
        lap("load_s")
        sessions = [first]
        for _ in range(case.concurrency - 1):
            sessions.append(sessions_open.enter_context(backend.load(case, source, inputs, cache_dir)))
        progress.report("first call and warm-up")
        if sampler is not None:
            sampler.pause()  # never sample during the timed blocks
        timer = first.block_timer()
        clocks = gpu.ClockSampler(_torch_device()) if case.device == "cuda" else None
        probe = _probe(case, timer)
        # what else kept the machine busy meanwhile: real clocks only (a test's fake clock must not read the machine)
        other = hostspeed.OtherCpu(enabled=case.device == "cpu"
                                   and getattr(timer, "clock", time.perf_counter) is time.perf_counter)
        diagnosis = None
        if case.concurrency > 1:
            clock = getattr(timer, "clock", time.perf_counter)
            timing, concurrent = measure_concurrent(sessions, case.batch, timing_policy, clock=clock)
            lap("measure_s")
        else:
            with _rejected(case, inputs):
                block_probe = None if isinstance(probe, hostspeed.MemoryProbe) else probe
                timing = measure(first.run, timer, timing_policy, between_blocks=_each(clocks, block_probe))
            lap("measure_s")
            diagnosis = _diagnose(timer, timing.samples, first)
            lap("diagnosis_s")
        other.stop()
        if isinstance(probe, hostspeed.MemoryProbe):
            probe.read_after(len(timing.samples))  # after the timed blocks: its copies evict the caches
            probe.close()  # its arrays are gone before the memory sampler reads the process again
        after = _device_state(case)
        if sampler is not None:
            sampler.resume()  # a short separate pass for the steady-state memory
            for _ in range(MEMORY_PASS_CALLS):
                for session in sessions:
                    session.run()
            for session in sessions:
                session.synchronize()
            lap("memory_pass_s")
        check = None
        if reference is not None:
            n = min(case.batch, CHECK_SAMPLES)  # the reference runs on the CPU: a large batch would take minutes
            check = check_output(head(first.output(), n, case.batch), reference(inputs[:n]), case.precision,
                                 reference_name(source))
            lap("output_check_s")
        phases = tuple(sorted(getattr(first, "phases", {}).items()))
        details = tuple(sorted(getattr(first, "details", {}).items()))
    first = sessions = session = None  # closed; drop the last references before checking the release
    mem = None
    if sampler is not None:
        # release, then verify: a backend that frees nothing would poison the next cell's numbers
        mem = sampler.stats(leaked_mib=sampler.held_after_release() if case.device == "cuda" else None)
    lap("release_s")
    flops_image = None
    if flops:
        flops_image = (flops_per_image(source, case.input_shape) if case.inputs is None
                       else flops_per_sample(source, case.inputs, dict(case.dims), seed))
    lap("flops_s")
    cold = ColdStart(load_s=load_s, first_call_s=timing.first_call, phases=phases)
    repeat = Repeat(timing=timing, cold=cold, started_at=started_at,
                    memory_peak_mib=mem.peak_mib if mem is not None else None,
                    clock=clocks.stats() if clocks is not None else None, device_before=before,
                    device_after=after, diagnosis=diagnosis,
                    host_probes=probe.aligned(len(timing.samples)) if probe is not None else (),
                    host_probe_kind=probe.KIND if probe is not None else "",
                    other_cpu=other.cores,
                    wall_s=time.perf_counter() - started, laps=lap.laps())
    return CellResult(
        nodeid=nodeid,
        model=source.name,
        case=case,
        timing=timing,
        summary=summarize(timing.samples),
        cold=cold,
        versions=tuple(sorted(backend.versions().items())),
        details=details,
        check=check,
        diagnosis=diagnosis,
        device_before=before,
        device_after=after,
        memory=mem,
        flops_per_image=flops_image,
        concurrency=concurrent,
        repeats=(repeat,),
        timer=timer_name(timer, concurrent=case.concurrency > 1),
    )


def _probe(case: Case, timer: object) -> hostspeed.BlockProbe | None:
    """The host-speed probe: launches after each timed block on a GPU, memory copies after the last one on a CPU (none
    for concurrent users, whose requests overlap)."""
    if case.concurrency != 1:
        return None
    if case.device == "cuda":
        return hostspeed.LaunchProbe()
    if case.device == "cpu" and getattr(timer, "clock", time.perf_counter) is time.perf_counter:
        return hostspeed.MemoryProbe()  # real clocks only: a test's fake clock must not read the machine
    return None


class _Laps:
    """Seconds between consecutive calls, by name: where a repeat's wall time went besides the timed blocks (the
    summary's "rest of each repeat" split by phase; the laps of one name add up)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._last = clock()
        self._laps: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = self._clock()
        self._laps[name] = self._laps.get(name, 0.0) + now - self._last
        self._last = now

    def laps(self) -> tuple[tuple[str, float], ...]:
        return tuple(self._laps.items())


@contextlib.contextmanager
def _rejected(case: Case, inputs: object) -> Iterator[None]:
    """A model that raises on the generated inputs (several or integer inputs) fails its cell with what it was given
    and where to fix it; out-of-memory stays what it is (the worker's outcome)."""
    try:
        yield
    except Exception as exc:
        from .worker import is_oom

        if not isinstance(inputs, Inputs) or is_oom(exc) or isinstance(exc, ModelError):
            raise
        raise ModelError(
            f"{case.id}: the model rejected the generated inputs ({inputs.describe()}): {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}; fix the marker's inputs= (shape, dtype, "
            "low/high) or dims= to what the model's forward expects"
        ) from exc


def smoke_cell(case: Case, backend: Backend, source: ModelSource, cache_dir: Path, seed: int) -> None:
    """``--benchmark-disable``: load and run once, so the matrix is checked without measuring."""
    with backend.load(case, source, random_inputs(case, seed), cache_dir) as session:
        session.run()
        session.synchronize()


PROBE_CALLS = 2


@dataclass(frozen=True)
class Probe:
    """One try of a batch size in the max-batch search: it ran, and how much memory and time it took."""

    batch: int
    seconds_per_batch: float
    peak_mib: float | None


def execute_probe(request: CellRequest) -> Probe:
    """Load the cell at its batch and run it a few times; an out-of-memory propagates (it is the answer)."""
    source = source_for(request.spec, request.rootpath, request.seed)
    request.backend.prepare(source)
    case = request.case
    sampler = MemorySampler(case.device) if request.memory else None
    with sampler if sampler is not None else contextlib.nullcontext():
        with request.backend.load(case, source, random_inputs(case, request.seed), request.cache_dir) as session:
            session.run()
            session.synchronize()
            start = time.perf_counter()
            for _ in range(PROBE_CALLS):
                session.run()
            session.synchronize()
            seconds = (time.perf_counter() - start) / PROBE_CALLS
    peak = sampler.stats().peak_mib if sampler is not None else None
    return Probe(batch=case.batch, seconds_per_batch=seconds, peak_mib=peak)
