"""BERT-base on the GPU (issue 13): the plugin's cells against an independent measurement in the same run.

    python benchmarks/bert_check.py --out DIR [--precision fp16] [--backends torch,torch-compile,onnxruntime]

First runs ``pytest perf_tests -k test_bert_base --infperf-preset=bert-gpu`` (one precision, batch 1 and 32,
sequence 128 and 512) into DIR/bert.json, then measures the same model by hand in this process, with nothing of the
plugin's timing code:

- torch eager, torch-cudagraph (the plain model captured by hand into one CUDA graph, replayed) and torch.compile
  (default mode, ``dynamic=False``, compiled afresh per shape as each cell of the
  plugin does): ``BertModel(BertConfig())`` cast to the precision on cuda, CUDA events around blocks of
  back-to-back calls of the plain model;
- onnxruntime: the ONNX file the plugin exported (its export cache, ``.pytest_cache/d/infperf-onnx``) in a CUDA EP
  session of our own, every input and output bound on the device by hand (IO binding), blocks of
  ``run_with_iobinding`` timed with ``perf_counter`` (each run returns when the device is done).

Each figure is the median over blocks of the per-call time; the plugin's is its cell's ``time_per_batch_s``.
Then the output error of fp16 and bf16 BERT-base against fp32 on cuda (TF32 off), as the plugin's output check
computes it (`runner.check_output`: max |out - ref| / max |ref| over every output tensor), to set their tolerances.
Prints the tables (plugin, independent, ratio, the plugin's launch-bound diagnosis and output error) and writes them
to DIR/bert-check.md. Arguments it does not know go to the plugin's pytest run.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 30522
BLOCKS = 15
MIN_BLOCK_S = 0.05


def run_plugin(out: Path, precision: str, backends: str, extra: list[str]) -> dict[tuple[str, int, int], dict]:
    json_path = out / "bert.json"
    cmd = [sys.executable, "-m", "pytest", "perf_tests", "-k", "test_bert_base", "-q", "--no-header",
           "-p", "no:randomly", "--infperf-preset=bert-gpu", f"--infperf-precisions={precision}",
           f"--infperf-backends={backends}", f"--benchmark-json={json_path}", *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (out / "bert-pytest.log").write_text(proc.stdout + proc.stderr)
    print(f"plugin: exit {proc.returncode}, {time.perf_counter() - started:.0f} s: {' '.join(cmd[2:])}", flush=True)
    for line in proc.stdout.splitlines()[-12:]:
        print("   ", line[:300])
    if not json_path.is_file():
        raise SystemExit("the plugin wrote no JSON: see bert-pytest.log")
    cells = {}
    for bench in json.loads(json_path.read_text())["benchmarks"]:
        info = bench["extra_info"]["infperf"]
        cells[(info["backend"], info["batch"], int(bench["params"]["seq"]))] = info
    return cells


def blocks(call, sync, timer, between=lambda: None) -> float:
    """Median per-call seconds over BLOCKS blocks of back-to-back calls, each at least MIN_BLOCK_S long;
    ``between`` runs after each block, outside it (the SM clock is read there)."""
    for _ in range(10):
        call()
    sync()
    t0 = time.perf_counter()
    call()
    sync()
    per = max(time.perf_counter() - t0, 1e-6)
    n = max(1, int(MIN_BLOCK_S / per))
    times = []
    for _ in range(BLOCKS):
        times.append(timer(call, n) / n)
        between()
    return statistics.median(times)


def events_timer(call, n) -> float:
    """Seconds of ``n`` back-to-back calls between two CUDA events."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(n):
        call()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def torch_figure(model, ids, mask, between) -> float:
    import torch

    with torch.inference_mode():
        return blocks(lambda: model(input_ids=ids, attention_mask=mask), torch.cuda.synchronize, events_timer,
                      between)


def graph_figure(model, ids, mask, between) -> float:
    """The plain model captured by hand into one CUDA graph (warm-up on a side stream first, as torch's docs do);
    a call is one replay, timed with CUDA events."""
    import torch

    with torch.inference_mode():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                model(input_ids=ids, attention_mask=mask)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model(input_ids=ids, attention_mask=mask)
        figure = blocks(graph.replay, torch.cuda.synchronize, events_timer, between)
    del graph
    return figure


def ort_figure(path: str, ids, mask, between) -> float:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CUDAExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {n: v for n, v in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", np.zeros_like(ids)))
             if n in names}
    outputs = session.run(None, feeds)
    binding = session.io_binding()
    keep = []
    for name, value in feeds.items():
        dev = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), "cuda", 0)
        binding.bind_ortvalue_input(name, dev)
        keep.append(dev)
    for meta, host in zip(session.get_outputs(), outputs, strict=True):
        dev = ort.OrtValue.ortvalue_from_shape_and_type(list(host.shape), host.dtype.type, "cuda", 0)
        binding.bind_ortvalue_output(meta.name, dev)
        keep.append(dev)

    def timer(call, n):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        return time.perf_counter() - t0

    return blocks(lambda: session.run_with_iobinding(binding), lambda: None, timer, between)


def errors() -> list[str]:
    import numpy as np
    import torch
    import transformers

    from pytest_infperf.measure.runner import check_output

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    reference = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True).eval().to("cuda")
    shapes = ((1, 128), (32, 512))
    rows = []
    for precision, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        model = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True).eval()
        model.load_state_dict(reference.state_dict())
        model = model.to("cuda", dtype)
        cells = []
        for batch, seq in shapes:
            rng = np.random.default_rng(batch * 1000 + seq)
            ids = torch.from_numpy(rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)).cuda()
            mask = torch.ones_like(ids)
            with torch.inference_mode():
                ref = reference(input_ids=ids, attention_mask=mask)
                out = model(input_ids=ids, attention_mask=mask)
            as_np = [t.float().cpu().numpy() for t in (out.last_hidden_state, out.pooler_output)]
            ref_np = [t.float().cpu().numpy() for t in (ref.last_hidden_state, ref.pooler_output)]
            check = check_output(as_np, ref_np, precision, "torch fp32")
            cells.append(f"{check.max_rel_error:.3g} (tolerance {check.tolerance:g})")
        rows.append(f"| {precision} | {' | '.join(cells)} |")
        del model
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--backends", default="torch,torch-compile,onnxruntime")
    parser.add_argument("--skip-plugin", action="store_true", help="reuse DIR/bert.json")
    args, extra = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.skip_plugin:
        cells = {}
        for bench in json.loads((args.out / "bert.json").read_text())["benchmarks"]:
            info = bench["extra_info"]["infperf"]
            cells[(info["backend"], info["batch"], int(bench["params"]["seq"]))] = info
    else:
        cells = run_plugin(args.out, args.precision, args.backends, extra)

    import numpy as np
    import torch
    import transformers

    from pytest_infperf.gpu import ClockSampler

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    torch.manual_seed(0)
    eager = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True).eval().to("cuda", dtype)
    cache = ROOT / ".pytest_cache" / "d" / "infperf-onnx"
    onnx_files = sorted(glob.glob(str(cache / f"*-bert-base-{args.precision}.onnx")),
                        key=lambda p: Path(p).stat().st_mtime)
    rows = []
    for (backend, batch, seq), info in sorted(cells.items()):
        rng = np.random.default_rng(batch * 1000 + seq)
        ids_np = rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)
        mask_np = np.ones((batch, seq), dtype=np.int64)
        started = time.perf_counter()
        clock = ClockSampler()  # the plugin's NVML reader, between blocks (none of its timing code)
        if backend == "torch-cudagraph":
            figure = graph_figure(eager, torch.from_numpy(ids_np).cuda(), torch.from_numpy(mask_np).cuda(), clock)
        elif backend == "torch":
            figure = torch_figure(eager, torch.from_numpy(ids_np).cuda(), torch.from_numpy(mask_np).cuda(), clock)
        elif backend == "torch-compile":
            torch._dynamo.reset()  # one compiled graph per shape, as each cell compiles its own
            compiled = torch.compile(eager, dynamic=False)
            figure = torch_figure(compiled, torch.from_numpy(ids_np).cuda(), torch.from_numpy(mask_np).cuda(), clock)
            del compiled
        elif backend == "onnxruntime" and onnx_files:
            figure = ort_figure(onnx_files[-1], ids_np, mask_np, clock)
        else:
            print(f"{backend} b{batch} seq{seq}: no independent measurement (no ONNX file found)")
            continue
        plugin = info["time_per_batch_s"]
        launch = any((r.get("diagnosis") or {}).get("launch_bound") for r in info["repeats"])
        error = (info.get("output_check") or {}).get("max_rel_error")
        rows.append((backend, batch, seq, plugin, figure, launch, error))
        clocks = [r["clock"]["median_mhz"] for r in info["repeats"] if r.get("clock")]
        print(f"  {backend} b{batch} seq{seq}: plugin {plugin * 1e3:.3f} ms, independent {figure * 1e3:.3f} ms "
              f"({time.perf_counter() - started:.0f} s); SM clock: plugin {clocks}, independent median "
              f"{clock.stats().median_mhz if clock.stats() else 0:.0f} MHz", flush=True)
    lines = [f"BERT-base {args.precision}, {torch.cuda.get_device_name()}, torch {torch.__version__}",
             "", "| cell | plugin ms/call | independent ms/call | plugin / independent | plugin's diagnosis | "
             "output error |", "|---|---|---|---|---|---|"]
    for backend, batch, seq, plugin, figure, launch, error in rows:
        lines.append(f"| {backend}-cuda-{args.precision}-b{batch}-seq{seq} | {plugin * 1e3:.3f} | {figure * 1e3:.3f} | "
                     f"{plugin / figure:.3f} | {'launch-bound' if launch else 'device-bound'} | "
                     f"{'-' if error is None else f'{error:.2g}'} |")
    del eager
    lines += ["", "Output error against fp32 (TF32 off), max |out - ref| / max |ref| over every output tensor:", "",
              "| precision | b1 seq128 | b32 seq512 |", "|---|---|---|"] + errors()
    (args.out / "bert-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
