"""Direct tests of pytest_infperf.compare.fingerprint: what two runs must share, and the folder named after it."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

from pytest_infperf import gpu
from pytest_infperf.compare import fingerprint
from pytest_infperf.compare.fingerprint import Fingerprint

H100 = {"name": "NVIDIA H100 80GB HBM3", "driver": "550.54", "cuda_driver": "12.4"}


def test_key_is_a_readable_device_slug_plus_a_hash_of_every_field() -> None:
    fp = Fingerprint((("cpu", "Intel Xeon"), ("gpu", "NVIDIA H100 80GB HBM3"), ("torch", "2.5.0")))
    slug, digest = fp.key.rsplit("-", 1)
    assert slug == "NVIDIA_H100_80GB_HBM3"  # the GPU wins over the CPU, runs of non-alphanumerics become one "_"
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert fp.key == Fingerprint(fp.fields).key  # stable
    other = Fingerprint((("cpu", "Intel Xeon"), ("gpu", "NVIDIA H100 80GB HBM3"), ("torch", "2.6.0")))
    assert other.key.startswith(f"{slug}-") and other.key != fp.key  # any field changes the hash, not the slug


def test_key_falls_back_to_the_cpu_then_to_machine() -> None:
    epyc = Fingerprint((("cpu", "  AMD EPYC 7763 64-Core Processor "),))
    assert epyc.key.startswith("AMD_EPYC_7763_64_Core_Processor-")
    assert Fingerprint((("cpu", "***"),)).key.startswith("machine-")  # nothing readable left
    assert Fingerprint(()).key.startswith("cpu-")  # no cpu field at all
    assert len(Fingerprint((("cpu", "x" * 100),)).key.split("-")[0]) == 48  # the slug is capped


def test_as_dict_round_trips_the_fields() -> None:
    fields = (("a", "1"), ("b", "2"))
    assert Fingerprint(fields).as_dict == {"a": "1", "b": "2"}


def test_collect_without_a_gpu_records_host_fields_sorted_and_extra_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "nvml_gpus", lambda: [])
    monkeypatch.setattr(fingerprint, "cpu_model", lambda: "Test CPU")
    fp = fingerprint.collect({"cpu": "override", "run": "ci"})
    names = [name for name, _ in fp.fields]
    assert names == sorted(names)
    data = fp.as_dict
    assert data["cpu"] == "override" and data["run"] == "ci"  # extra fields are applied last
    assert "gpu" not in data and "driver" not in data
    assert data["numpy"] == importlib.metadata.version("numpy")  # installed libraries by package metadata
    assert data["python"].count(".") == 1  # major.minor only: a patch release does not split baselines


def test_collect_records_the_first_gpu_and_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "nvml_gpus", lambda: [H100, {**H100, "name": "other"}])
    data = fingerprint.collect().as_dict
    assert data["gpu"] == "NVIDIA H100 80GB HBM3" and data["gpu_count"] == "2"
    assert data["driver"] == "550.54" and data["cuda_driver"] == "12.4"
    assert fingerprint.collect().key.startswith("NVIDIA_H100_80GB_HBM3-")


def test_a_missing_library_is_left_out_not_recorded_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "nvml_gpus", lambda: [])

    def version(name: str) -> str:
        if name == "tensorrt":
            raise importlib.metadata.PackageNotFoundError(name)
        return "1.0"

    monkeypatch.setattr(fingerprint.importlib.metadata, "version", version)
    data = fingerprint.collect().as_dict
    assert "tensorrt" not in data and data["onnx"] == "1.0"


def test_torch_cuda_build_is_read_from_version_py_without_importing_torch(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "torch"
    package.mkdir()
    (package / "version.py").write_text("__version__ = '2.5.0'\ncuda: Optional[str] = '12.4'\n")
    spec = type("Spec", (), {"submodule_search_locations": [str(package)]})()
    monkeypatch.setattr(fingerprint.importlib.util, "find_spec", lambda name: spec)
    assert fingerprint._torch_cuda_build() == "12.4"
    (package / "version.py").write_text("__version__ = '2.5.0+cpu'\ncuda = None\n")
    assert fingerprint._torch_cuda_build() == "none"  # a CPU build says so
    monkeypatch.setattr(fingerprint.importlib.util, "find_spec", lambda name: None)
    assert fingerprint._torch_cuda_build() is None  # no torch: no field


def test_cpu_model_is_a_non_empty_string() -> None:
    assert isinstance(fingerprint.cpu_model(), str) and fingerprint.cpu_model()
