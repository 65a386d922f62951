"""Named matrices. A preset fills the axes not given on the command line; ``auto`` picks ``gpu`` or ``cpu``."""

from __future__ import annotations

PRESETS: dict[str, dict[str, str]] = {
    # the default suite on a machine without a GPU (ResNet-18: 6 cells; BERT-tiny at seq 128/512: 12 cells)
    "cpu": {"backends": "torch,onnxruntime", "devices": "cpu", "precisions": "fp32", "batches": "1,4,8"},
    # the default suite on a GPU: 3 backends x 3 precisions x 4 batch sizes (ResNet-18)
    "gpu": {
        "backends": "torch,torch-compile,onnxruntime",
        "devices": "cuda",
        "precisions": "fp32,fp16,bf16",
        "batches": "1,16,64,128",
    },
    # seed 002's table: ResNet-18, torch / onnx / torch-tensorrt x fp16 / fp32 x cuda / cpu x batch 16-64
    # (torch-tensorrt cells skip with the install command where it is missing)
    "seed002": {
        "backends": "torch,onnxruntime,torch-tensorrt",
        "devices": "cuda,cpu",
        "precisions": "fp16,fp32",
        "batches": "16,32,48,64",
    },
    # BERT-base (perf_tests/test_bert.py) on the GPU, as issue 13 measures it: not in "gpu", which it would take past
    # 3 minutes per save or compare on the H200 (249 s and 235 s with BERT-base at batch 32 in it)
    "bert-gpu": {
        "backends": "torch,torch-compile,onnxruntime",
        "devices": "cuda",
        "precisions": "fp32,fp16,bf16",
        "batches": "1,32",
    },
}
AUTO = "auto"


def resolve(name: str, gpu_present: bool) -> str:
    if name == AUTO:
        return "gpu" if gpu_present else "cpu"
    return name
