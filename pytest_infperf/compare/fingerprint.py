"""The machine fingerprint: what must match for two runs to be comparable, and the baseline folder named after it.

Gathered without importing torch (versions come from package metadata, the GPU from NVML).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from .. import gpu

LIBRARIES = (
    "torch", "torchvision", "onnxruntime", "onnxruntime-gpu", "onnx", "tensorrt", "torch-tensorrt", "numpy",
)


@dataclass(frozen=True)
class Fingerprint:
    fields: tuple[tuple[str, str], ...]

    @property
    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    @property
    def key(self) -> str:
        """Folder name: readable device part plus a hash of every field, e.g. ``NVIDIA_H100_80GB_HBM3-3f9c0a1b2c3d``."""
        data = self.as_dict
        device = data.get("gpu") or data.get("cpu", "cpu")
        slug = re.sub(r"[^A-Za-z0-9]+", "_", device).strip("_")[:48] or "machine"
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
        return f"{slug}-{digest}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_cuda_build() -> str | None:
    """torch.version.cuda read from torch/version.py without importing torch (importing costs seconds)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        version_py = Path(location) / "version.py"
        if version_py.is_file():
            match = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", version_py.read_text(), re.M)
            return match.group(1) if match else "none"
    return None


def collect(extra: dict[str, str] | None = None) -> Fingerprint:
    fields: dict[str, str] = {
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count() or 0),
        "system": f"{platform.system()}-{platform.machine()}",
        "python": ".".join(platform.python_version_tuple()[:2]),
    }
    for name in LIBRARIES:
        try:
            fields[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    cuda_build = _torch_cuda_build()
    if cuda_build:
        fields["torch_cuda"] = cuda_build
    gpus = gpu.nvml_gpus()
    if gpus:
        fields["gpu"] = gpus[0]["name"]
        fields["gpu_count"] = str(len(gpus))
        fields["driver"] = gpus[0]["driver"]
        fields["cuda_driver"] = gpus[0]["cuda_driver"]
    fields.update(extra or {})
    return Fingerprint(tuple(sorted(fields.items())))
