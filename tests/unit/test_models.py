"""Direct tests of pytest_infperf.artifacts.models, the parts that need no export: spec parsing and its checks, the
resolved source's cheap paths, and how the ONNX cache names an export."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_infperf.artifacts import models
from pytest_infperf.artifacts.models import ModelSource, ModelSpec
from pytest_infperf.errors import ModelError

PREFIX = "_infperf_unit_models_"


def make_net() -> object:
    return object()


class Factory:
    def __call__(self) -> object:
        return object()


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for model modules written by a test; they are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith(PREFIX)]:
        del sys.modules[name]


def test_from_marker_tells_the_three_kinds_apart_and_names_them() -> None:
    onnx = ModelSpec.from_marker("models/resnet.onnx")
    assert (onnx.kind, onnx.target, onnx.name) == ("onnx", Path("models/resnet.onnx"), "resnet")
    assert ModelSpec.from_marker(Path("net.v2.onnx")).name == "net.v2"  # a PathLike is a file, named by its stem
    with pytest.raises(ModelError, match=r"model='weights.bin' is a path but not an .onnx file"):
        ModelSpec.from_marker(Path("weights.bin"))  # a PathLike of another suffix names the fix at collection
    imported = ModelSpec.from_marker("pkg.nets:make_net")
    assert (imported.kind, imported.target, imported.name) == ("import", "pkg.nets:make_net", "make_net")
    called = ModelSpec.from_marker(make_net)
    assert (called.kind, called.target, called.name) == ("callable", make_net, "make_net")
    assert ModelSpec.from_marker(Factory()).name == "Factory"  # a callable object without __name__: its type
    assert ModelSpec.from_marker(make_net, "custom").name == "custom"
    assert ModelSpec.from_marker("x.onnx", "custom").name == "custom"


def test_specs_compare_by_kind_and_name_not_by_target() -> None:
    assert ModelSpec.from_marker(make_net) == ModelSpec.from_marker(Factory(), "make_net")
    assert ModelSpec.from_marker("a:make_net") != ModelSpec.from_marker(make_net)


@pytest.mark.parametrize("model", ["resnet18", "pkg.nets:", ":make_net", "model.pt"])
def test_a_string_that_is_neither_module_attr_nor_onnx_is_refused_with_examples(model: str) -> None:
    with pytest.raises(ModelError, match=r"is neither 'module:attr' nor a path ending in \.onnx; write e\.g\."):
        ModelSpec.from_marker(model)


def test_a_value_that_is_no_model_is_refused_naming_its_type() -> None:
    with pytest.raises(ModelError, match=r"model=42 \(int\) is not usable; pass a callable"):
        ModelSpec.from_marker(42)


def test_check_of_an_onnx_file_looks_under_the_rootdir(tmp_path: Path) -> None:
    (tmp_path / "net.onnx").write_bytes(b"onnx")
    ModelSpec.from_marker("net.onnx").check(tmp_path)
    ModelSpec.from_marker(str(tmp_path / "net.onnx")).check(Path("/nonexistent"))  # absolute: as given
    with pytest.raises(ModelError, match=r"model file 'gone.onnx' does not exist \(looked at .*gone.onnx\); fix"):
        ModelSpec.from_marker("gone.onnx").check(tmp_path)


def test_check_of_a_callable_does_nothing(tmp_path: Path) -> None:
    ModelSpec.from_marker(make_net).check(tmp_path)


def test_check_imports_the_module_and_finds_a_dotted_attribute(modules: Path) -> None:
    (modules / f"{PREFIX}ok.py").write_text("class Zoo:\n    @staticmethod\n    def net():\n        return 1\n")
    spec = ModelSpec.from_marker(f"{PREFIX}ok:Zoo.net")
    spec.check(modules)
    source = spec.resolve(modules, seed=7)
    assert source.factory() == 1 and source.seed == 7 and source.name == "Zoo.net" and source.is_torch


def test_a_missing_module_says_cannot_import(modules: Path) -> None:
    with pytest.raises(ModelError, match=rf"cannot import module '{PREFIX}absent' .*check the name"):
        ModelSpec.from_marker(f"{PREFIX}absent:net").check(modules)


def test_a_module_whose_own_import_is_missing_says_what_failed(modules: Path) -> None:
    (modules / f"{PREFIX}needs.py").write_text(f"import {PREFIX}not_installed\n")
    with pytest.raises(ModelError, match=rf"importing module '{PREFIX}needs' failed: ModuleNotFoundError"):
        ModelSpec.from_marker(f"{PREFIX}needs:net").check(modules)


@pytest.mark.parametrize(("suffix", "code", "error"), [
    ("runtime", "raise RuntimeError('no GPU here')", "RuntimeError: no GPU here"),
    ("syntax", "def broken(:\n", "SyntaxError"),
    ("exit", "raise SystemExit(3)", "SystemExit: 3"),
])
def test_any_error_while_importing_the_module_is_a_model_error(modules: Path, suffix: str, code: str,
                                                               error: str) -> None:
    name = f"{PREFIX}boom_{suffix}"
    (modules / f"{name}.py").write_text(code + "\n")
    with pytest.raises(ModelError, match=rf"importing module '{name}' failed: {error}.*python -c 'import {name}'"):
        ModelSpec.from_marker(f"{name}:net").check(modules)


def test_a_missing_or_non_callable_attribute_is_refused(modules: Path) -> None:
    (modules / f"{PREFIX}attrs.py").write_text("VALUE = 3\n")
    with pytest.raises(ModelError, match=rf"module '{PREFIX}attrs' has no attribute 'nett'; check the spelling"):
        ModelSpec.from_marker(f"{PREFIX}attrs:nett").check(modules)
    with pytest.raises(ModelError, match="is not callable; it must return a torch.nn.Module"):
        ModelSpec.from_marker(f"{PREFIX}attrs:VALUE").resolve(modules, 0)


def test_resolve_of_an_onnx_file_has_no_factory(tmp_path: Path) -> None:
    source = ModelSpec.from_marker("net.onnx").resolve(tmp_path, seed=3)
    assert source.onnx_file == tmp_path / "net.onnx" and source.factory is None and not source.is_torch
    assert source.onnx_path((3, 8, 8), "fp16", tmp_path / "cache") == (tmp_path / "net.onnx", False)  # as given
    with pytest.raises(ModelError, match="model 'net' is an ONNX file; only ONNX backends can run it"):
        source.torch_module()


def test_the_export_cache_name_holds_name_weights_shape_precision_and_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch itself stays unimported: the module and its digest are set, and only torch.__version__ is read
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.5.0"))
    exported: list[tuple[object, ...]] = []
    monkeypatch.setattr(models, "export_onnx", lambda *args: exported.append(args))
    monkeypatch.setattr(models.progress, "report", lambda message: None)

    def source(name: str = "my net/v1", digest: str = "d1") -> ModelSource:
        src = ModelSource(name, factory=make_net, onnx_file=None, seed=0)
        src._module, src._digest = "module", digest
        return src

    path, fresh = source().onnx_path((3, 8, 8), "fp16", tmp_path)
    assert fresh and exported == [("module", (3, 8, 8), "fp16", path)]
    assert path.parent == tmp_path and path.name.endswith("-my_net_v1-fp16.onnx")  # unsafe characters replaced
    assert len(path.name.split("-")[0]) == 20
    same = source().onnx_path((3, 8, 8), "fp16", tmp_path)[0]
    assert same == path
    others = {
        source(digest="d2").onnx_path((3, 8, 8), "fp16", tmp_path)[0],  # other weights or code
        source().onnx_path((3, 16, 16), "fp16", tmp_path)[0],
        source().onnx_path((3, 8, 8), "fp16", tmp_path, signature="x:f32[b,3,8,8]")[0],
        source(name="other").onnx_path((3, 8, 8), "fp16", tmp_path)[0],
    }
    assert path not in others and len(others) == 4
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.6.0"))
    assert source().onnx_path((3, 8, 8), "fp16", tmp_path)[0] != path  # another torch: another export
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.5.0"))
    path.write_bytes(b"exported")
    exported.clear()
    assert source().onnx_path((3, 8, 8), "fp16", tmp_path) == (path, False) and exported == []  # a hit


def test_class_source_falls_back_to_the_qualified_name() -> None:
    assert models._class_source(int) == "builtins.int"
    assert "def __call__" in models._class_source(Factory)
