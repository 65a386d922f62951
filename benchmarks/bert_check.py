"""BERT-base on the GPU (issue 13): the plugin's cells against an independent measurement in the same run.

    python benchmarks/bert_check.py --out DIR [--precision fp16] [--backends torch,torch-compile,onnxruntime]

First runs ``pytest perf_tests -k test_bert_base --infperf-preset=bert-gpu`` (one precision, batch 1 and 32,
sequence 128 and 512) into DIR/bert.json, then measures the same model by hand in this process, with nothing of the
plugin's timing code:

- torch eager and torch.compile (default mode, ``dynamic=False``): ``BertModel(BertConfig())`` cast to the precision
  on cuda, CUDA events around blocks of back-to-back calls of the plain model;
- onnxruntime: the ONNX file the plugin exported (its export cache, ``.pytest_cache/d/infperf-onnx``) in a CUDA EP
  session of our own, every input and output bound on the device by hand (IO binding), blocks of
  ``run_with_iobinding`` timed with ``perf_counter`` (each run returns when the device is done).

Each figure is the median over blocks of the per-call time; the plugin's is its cell's ``time_per_batch_s``.
Prints a table (plugin, independent, ratio, the plugin's launch-bound diagnosis) and writes it to DIR/bert-check.md.
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


def run_plugin(out: Path, precision: str, backends: str) -> dict[tuple[str, int, int], dict]:
    json_path = out / "bert.json"
    cmd = [sys.executable, "-m", "pytest", "perf_tests", "-k", "test_bert_base", "-q", "--no-header",
           "-p", "no:randomly", "--infperf-preset=bert-gpu", f"--infperf-precisions={precision}",
           f"--infperf-backends={backends}", f"--benchmark-json={json_path}"]
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


def blocks(call, sync, timer) -> float:
    """Median per-call seconds over BLOCKS blocks of back-to-back calls, each at least MIN_BLOCK_S long."""
    for _ in range(10):
        call()
    sync()
    t0 = time.perf_counter()
    call()
    sync()
    per = max(time.perf_counter() - t0, 1e-6)
    n = max(1, int(MIN_BLOCK_S / per))
    return statistics.median(timer(call, n) / n for _ in range(BLOCKS))


def torch_figure(model, ids, mask) -> float:
    import torch

    def timer(call, n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            call()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    with torch.inference_mode():
        return blocks(lambda: model(input_ids=ids, attention_mask=mask), torch.cuda.synchronize, timer)


def ort_figure(path: str, ids, mask) -> float:
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

    return blocks(lambda: session.run_with_iobinding(binding), lambda: None, timer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--backends", default="torch,torch-compile,onnxruntime")
    parser.add_argument("--skip-plugin", action="store_true", help="reuse DIR/bert.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.skip_plugin:
        cells = {}
        for bench in json.loads((args.out / "bert.json").read_text())["benchmarks"]:
            info = bench["extra_info"]["infperf"]
            cells[(info["backend"], info["batch"], int(bench["params"]["seq"]))] = info
    else:
        cells = run_plugin(args.out, args.precision, args.backends)

    import numpy as np
    import torch
    import transformers

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    torch.manual_seed(0)
    eager = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True).eval().to("cuda", dtype)
    compiled = torch.compile(eager, dynamic=False) if "torch-compile" in args.backends else None
    cache = ROOT / ".pytest_cache" / "d" / "infperf-onnx"
    onnx_files = sorted(glob.glob(str(cache / f"*-bert-base-{args.precision}.onnx")),
                        key=lambda p: Path(p).stat().st_mtime)
    rows = []
    for (backend, batch, seq), info in sorted(cells.items()):
        rng = np.random.default_rng(batch * 1000 + seq)
        ids_np = rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)
        mask_np = np.ones((batch, seq), dtype=np.int64)
        started = time.perf_counter()
        if backend == "torch":
            figure = torch_figure(eager, torch.from_numpy(ids_np).cuda(), torch.from_numpy(mask_np).cuda())
        elif backend == "torch-compile":
            figure = torch_figure(compiled, torch.from_numpy(ids_np).cuda(), torch.from_numpy(mask_np).cuda())
        elif backend == "onnxruntime" and onnx_files:
            figure = ort_figure(onnx_files[-1], ids_np, mask_np)
        else:
            print(f"{backend} b{batch} seq{seq}: no independent measurement (no ONNX file found)")
            continue
        plugin = info["time_per_batch_s"]
        launch = any((r.get("diagnosis") or {}).get("launch_bound") for r in info["repeats"])
        rows.append((backend, batch, seq, plugin, figure, launch))
        print(f"  {backend} b{batch} seq{seq}: plugin {plugin * 1e3:.3f} ms, independent {figure * 1e3:.3f} ms "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    lines = [f"BERT-base {args.precision}, {torch.cuda.get_device_name()}, torch {torch.__version__}",
             "", "| cell | plugin ms/call | independent ms/call | plugin / independent | plugin's diagnosis |",
             "|---|---|---|---|---|"]
    for backend, batch, seq, plugin, figure, launch in rows:
        lines.append(f"| {backend}-cuda-{args.precision}-b{batch}-seq{seq} | {plugin * 1e3:.3f} | {figure * 1e3:.3f} | "
                     f"{plugin / figure:.3f} | {'launch-bound' if launch else 'device-bound'} |")
    (args.out / "bert-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
