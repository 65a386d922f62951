"""Direct tests of pytest_infperf.artifacts.engine_cache: digests, keys, versions, shape profiles, the timing cache."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pytest_infperf.artifacts import engine_cache
from pytest_infperf.artifacts.engine_cache import ShapeProfile, TimingCacheFile

GPU = {"name": "NVIDIA H200", "compute_capability": "9.0"}


def test_file_digest_is_sha256_and_follows_the_files_content(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"abc")
    assert engine_cache.file_digest(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(b"abcd")  # another size: not the memoised digest
    os.utime(path, ns=(1, 1))
    assert engine_cache.file_digest(path) == "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"


def test_cache_key_is_order_independent_and_sees_every_part() -> None:
    key = engine_cache.cache_key({"a": 1, "b": [1, 2], "c": Path("x")})
    assert re.fullmatch(r"[0-9a-f]{24}", key)
    assert key == engine_cache.cache_key({"c": Path("x"), "b": [1, 2], "a": 1})
    assert key != engine_cache.cache_key({"a": 1, "b": [2, 1], "c": Path("x")})
    assert engine_cache.cache_key({"p": Path("x")}) == engine_cache.cache_key({"p": "x"})  # non-JSON values via str


def test_slug_keeps_safe_characters_and_caps_the_length() -> None:
    assert engine_cache.slug("NVIDIA H100 80GB/HBM3") == "NVIDIA_H100_80GB_HBM3"
    assert engine_cache.slug("a.b-c_d") == "a.b-c_d"
    assert len(engine_cache.slug("x" * 100)) == 40


def test_write_key_file_writes_sorted_readable_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "engine.key.json"
    engine_cache.write_key_file(path, {"z": 1, "a": Path("m.onnx")})
    text = path.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"z"')
    assert json.loads(text) == {"a": "m.onnx", "z": 1}


@pytest.mark.parametrize(("text", "version"), [
    ("10.3.0.26", (10, 3, 0, 26)), ("2.5.0+cu124", (2, 5, 0)), ("1.20.0rc1", (1, 20, 0)), ("8.6.dev0", (8, 6)),
    ("", ()), ("abc", ()),
])
def test_parse_version_takes_leading_digits_of_each_part(text: str, version: tuple[int, ...]) -> None:
    assert engine_cache.parse_version(text) == version


def test_version_text_joins_with_dots() -> None:
    assert engine_cache.version_text((10, 3, 0)) == "10.3.0"
    assert engine_cache.parse_version(engine_cache.version_text((8, 6, 1))) == (8, 6, 1)


def test_sweep_profile_runs_batch_1_to_the_largest_tuned_for_the_largest() -> None:
    profile = ShapeProfile.for_cell((3, 8, 8), batch=4, max_batch=16)
    assert profile == ShapeProfile((1, 3, 8, 8), (16, 3, 8, 8), (16, 3, 8, 8))
    assert ShapeProfile.for_cell((3, 8, 8), batch=32, max_batch=16).max == (32, 3, 8, 8)  # a larger cell widens it
    assert profile.covers((1, 3, 8, 8)) and profile.covers((16, 3, 8, 8))
    assert not profile.covers((17, 3, 8, 8)) and not profile.covers((4, 3, 8, 9))
    assert not profile.covers((4, 3, 8))  # another rank


def test_cell_profile_fixes_the_batch_and_an_unknown_mode_is_refused() -> None:
    profile = ShapeProfile.for_cell((3, 8, 8), batch=4, max_batch=16, mode="cell")
    assert profile.min == profile.opt == profile.max == (4, 3, 8, 8)
    assert not profile.covers((1, 3, 8, 8))
    with pytest.raises(ValueError, match="unknown profile mode 'both'; use sweep or cell"):
        ShapeProfile.for_cell((3, 8, 8), 4, 16, mode="both")


def test_profile_as_dict_and_ort_options() -> None:
    profile = ShapeProfile.for_cell((3, 224, 224), batch=1, max_batch=8)
    assert profile.as_dict() == {"min": [1, 3, 224, 224], "opt": [8, 3, 224, 224], "max": [8, 3, 224, 224]}
    assert profile.ort_options("input") == {
        "trt_profile_min_shapes": "input:1x3x224x224",
        "trt_profile_opt_shapes": "input:8x3x224x224",
        "trt_profile_max_shapes": "input:8x3x224x224",
    }


def test_timing_cache_file_is_per_gpu_and_version_and_empty_when_missing(tmp_path: Path) -> None:
    cache = TimingCacheFile(tmp_path, GPU, "10.3.0")
    assert cache.path.parent == tmp_path and cache.path.name.startswith("timing-NVIDIA_H200-")
    assert cache.path.suffix == ".cache"
    assert cache.path != TimingCacheFile(tmp_path, GPU, "10.4.0").path
    assert cache.path != TimingCacheFile(tmp_path, {**GPU, "compute_capability": "8.0"}, "10.3.0").path
    assert cache.load() == b""
    cache.save(b"")  # nothing to keep: no file
    assert not cache.path.exists()
    cache.save(b"\x00layers")
    assert TimingCacheFile(tmp_path, GPU, "10.3.0").load() == b"\x00layers"


def test_timing_cache_without_a_gpu_name_is_named_gpu(tmp_path: Path) -> None:
    assert TimingCacheFile(tmp_path, {}, "10").path.name.startswith("timing-gpu-")


def test_gpu_identity_of_the_cpu_needs_no_torch() -> None:
    assert engine_cache.gpu_identity("cpu") == {"name": "cpu"}


def test_a_named_input_profile_spans_the_batch_and_the_tests_dim_values():
    wide = ShapeProfile.for_named_input(("seq",), (2, 4), {"seq": [4, 16]}, max_batch=2)
    assert wide.as_dict() == {"min": [1, 4], "opt": [2, 16], "max": [2, 16]} and wide.covers((2, 9))
    assert not wide.covers((3, 4)) and not wide.covers((2, 17))
    fixed = ShapeProfile.for_named_input(("seq", 3), (4, 8, 3), {"seq": [8]}, max_batch=2)
    assert fixed.as_dict() == {"min": [1, 8, 3], "opt": [4, 8, 3], "max": [4, 8, 3]}
    callable_input = ShapeProfile.for_named_input(None, (2, 7), {}, max_batch=8)  # a callable's: batch only
    assert callable_input.as_dict() == {"min": [1, 7], "opt": [8, 7], "max": [8, 7]}
    assert ShapeProfile.for_named_input(("seq",), (2, 4), {"seq": [4, 16]}, 8, "cell").as_dict() == {
        "min": [2, 4], "opt": [2, 4], "max": [2, 4]}
    with pytest.raises(ValueError, match="unknown profile mode"):
        ShapeProfile.for_named_input(("seq",), (2, 4), {}, 8, "wide")
