"""Model sources: user callables, "module:attr" strings, .onnx files; the built-in ResNet-18; the ONNX export cache."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import progress
from ..errors import ModelError
from . import atomic

ONNX_OPSET = 17


def resnet18() -> Any:
    """torchvision's ResNet-18 architecture with random weights (the plugin seeds torch first): no download."""
    import torchvision

    return torchvision.models.resnet18(weights=None)


@dataclass(frozen=True)
class ModelSpec:
    """What ``@pytest.mark.infperf(model=...)`` named, validated but not yet imported or built."""

    kind: str  # "callable" | "import" | "onnx"
    target: Any = field(compare=False)
    name: str

    @classmethod
    def from_marker(cls, model: Any, name: str | None = None) -> ModelSpec:
        if isinstance(model, os.PathLike) or (isinstance(model, str) and model.endswith(".onnx")):
            path = Path(model)
            if path.suffix.lower() != ".onnx":
                raise ModelError(
                    f"model={str(path)!r} is a path but not an .onnx file; a model file must be ONNX "
                    "(export it with torch.onnx.export), or pass a callable returning a torch.nn.Module"
                )
            return cls("onnx", path, name or path.stem)
        if isinstance(model, str):
            module, sep, attr = model.partition(":")
            if not sep or not module or not attr:
                raise ModelError(
                    f"model={model!r} is neither 'module:attr' nor a path ending in .onnx; "
                    "write e.g. model='mypkg.nets:make_net' or model='models/net.onnx'"
                )
            return cls("import", model, name or attr)
        if callable(model):
            return cls("callable", model, name or getattr(model, "__name__", type(model).__name__))
        raise ModelError(
            f"model={model!r} ({type(model).__name__}) is not usable; pass a callable returning a torch.nn.Module, "
            "a 'module:attr' string, or a path to an .onnx file"
        )

    def check(self, rootdir: Path) -> None:
        """Cheap checks at collection time: the file exists, the module imports and has the attribute."""
        if self.kind == "onnx":
            path = self.target if self.target.is_absolute() else rootdir / self.target
            if not path.is_file():
                raise ModelError(f"model file {str(self.target)!r} does not exist (looked at {path}); fix the path")
        elif self.kind == "import":
            self._import_attr()

    def _import_attr(self) -> Callable[[], Any]:
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except (Exception, SystemExit) as exc:  # the module's own code runs here: any error of it, not only imports
            missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
            if missing and (module_name == missing or module_name.startswith(f"{missing}.")):  # the module itself
                raise ModelError(
                    f"model={self.target!r}: cannot import module {module_name!r} ({exc}); "
                    "check the name and that it is installed or on sys.path"
                ) from exc
            raise ModelError(
                f"model={self.target!r}: importing module {module_name!r} failed: {type(exc).__name__}: {exc}; "
                f"fix the module or install what it imports (python -c 'import {module_name}' shows the traceback)"
            ) from exc
        obj: Any = module
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ModelError(
                    f"model={self.target!r}: module {module_name!r} has no attribute {attr!r}; check the spelling"
                ) from None
        if not callable(obj):
            raise ModelError(f"model={self.target!r} is not callable; it must return a torch.nn.Module")
        return obj

    def resolve(self, rootdir: Path, seed: int) -> ModelSource:
        if self.kind == "onnx":
            path = self.target if self.target.is_absolute() else rootdir / self.target
            return ModelSource(name=self.name, factory=None, onnx_file=path, seed=seed)
        factory = self.target if self.kind == "callable" else self._import_attr()
        return ModelSource(name=self.name, factory=factory, onnx_file=None, seed=seed)


class ModelSource:
    """A resolved model: builds the torch module once (seeded), exports ONNX on demand through the disk cache."""

    def __init__(self, name: str, factory: Callable[[], Any] | None, onnx_file: Path | None, seed: int) -> None:
        self.name = name
        self.factory = factory
        self.onnx_file = onnx_file
        self.seed = seed
        self._module: Any = None
        self._digest: str | None = None
        self._references: dict[tuple[int, ...], Any] = {}
        self.flops: dict[tuple[Any, ...], float | None] = {}  # per input shape (or inputs and dims), by flops.py

    @property
    def is_torch(self) -> bool:
        return self.factory is not None

    def torch_module(self) -> Any:
        """The fp32 CPU module in eval mode; built once per source with torch seeded, so weights are reproducible."""
        if self.factory is None:
            raise ModelError(f"model {self.name!r} is an ONNX file; only ONNX backends can run it")
        if self._module is None:
            import torch

            torch.manual_seed(self.seed)
            try:
                module = self.factory()
            except Exception as exc:
                raise ModelError(f"model factory {self.name!r} raised {type(exc).__name__}: {exc}") from exc
            if not isinstance(module, torch.nn.Module):
                raise ModelError(
                    f"model factory {self.name!r} returned {type(module).__name__}, not a torch.nn.Module; "
                    "return the module (the plugin moves it to the device and precision of each cell)"
                )
            self._module = module.eval()
        return self._module

    def reference_output(self, inputs: Any) -> Any:
        """fp32 output on the CPU for these inputs: torch for a torch model, onnxruntime for an ONNX file; every
        tensor of it (a list) when the model returns several. Cached per input shape (one float input is seeded, so
        one shape means one input) or, for several inputs (`inputs.Inputs`), per content."""
        import numpy as np

        from ..inputs import Inputs, host_outputs

        several = isinstance(inputs, Inputs)
        key: Any = inputs.digest() if several else tuple(inputs.shape)
        cache = self._references
        if key not in cache:
            if self.factory is not None:
                import torch

                module = self.torch_module()
                with torch.inference_mode():
                    if several:
                        from ..inputs import caller, check_signature, to_torch

                        check_signature(module, inputs, self.name)
                        packed = to_torch(inputs, "cpu", torch.float32)
                        out = caller(module, packed)(packed)
                    else:
                        out = module(torch.from_numpy(inputs))
                outputs = host_outputs(out)
            else:
                import onnxruntime

                session = onnxruntime.InferenceSession(str(self.onnx_file), providers=["CPUExecutionProvider"])
                if several:
                    from ..inputs import ort_feeds

                    feeds = ort_feeds(session, inputs, self.name)
                else:
                    feeds = {session.get_inputs()[0].name: inputs.astype(np.float32)}
                outputs = [np.asarray(o) for o in session.run(None, feeds)]
            outputs = [o.astype(np.float64) for o in outputs]
            cache[key] = outputs if len(outputs) > 1 else outputs[0]
        return cache[key]

    def weights_digest(self) -> str:
        """Hash of architecture and weights: the ONNX cache key changes when either changes."""
        if self._digest is not None:
            return self._digest
        module = self.torch_module()
        digest = hashlib.sha256(type(module).__qualname__.encode())
        digest.update(repr(module).encode())
        for cls in sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
            digest.update(_class_source(cls).encode())
        for key, tensor in module.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        self._digest = digest.hexdigest()[:16]
        return self._digest

    def onnx_path(self, input_shape: tuple[int, ...], precision: str, cache_dir: Path,
                  inputs: Any = None, signature: str = "", dynamic: Any = None) -> tuple[Path, bool]:
        """Path of the ONNX model for this shape and precision, and whether it was exported now (a cache miss). With
        several inputs (`inputs.Inputs`), ``signature`` (names, dtypes, shapes with named dims) keys the export and
        ``dynamic`` maps each input to its named axes."""
        if self.onnx_file is not None:
            return self.onnx_file, False
        import torch

        key = "-".join(
            [self.name, self.weights_digest(), signature or "x".join(map(str, input_shape)), precision,
             f"opset{ONNX_OPSET}", f"torch{torch.__version__}"]
        )
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        path = cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}-{slug}-{precision}.onnx"
        if path.is_file():
            return path, False
        progress.report(f"exporting {self.name} to ONNX ({precision}, opset {ONNX_OPSET}; cached afterwards)")
        if inputs is not None:
            from ..inputs import export_onnx_inputs

            export_onnx_inputs(self.torch_module(), inputs, dynamic or {}, precision, path, self.name)
        else:
            export_onnx(self.torch_module(), input_shape, precision, path)
        return path, True

    def int8_onnx_path(self, input_shape: tuple[int, ...], cache_dir: Path, inputs: Any = None, signature: str = "",
                       dynamic: Any = None, feeds: Any = None) -> tuple[Path, dict[str, float]]:
        """The int8 Q/DQ model (ONNX Runtime static quantization of the fp32 model, see quantize.py), cached next to
        the fp32 export and keyed by it plus the calibration settings, and the seconds this call spent exporting
        (``export_s``) and quantizing (``quantize_s``) on cache misses. Several inputs: ``inputs``, ``signature``
        and ``dynamic`` as for `onnx_path`, ``feeds`` the calibration batches (`quantize.Feeds`)."""
        import time

        from .quantize import Calibration, cached_qdq

        phases: dict[str, float] = {}
        start = time.perf_counter()
        fp32, exported = self.onnx_path(input_shape, "fp32", cache_dir, inputs=inputs, signature=signature,
                                        dynamic=dynamic)
        if exported:
            phases["export_s"] = time.perf_counter() - start
        start = time.perf_counter()
        path, quantized = cached_qdq(fp32, signature or input_shape, cache_dir, Calibration(seed=self.seed), feeds)
        if quantized:
            phases["quantize_s"] = time.perf_counter() - start
        return path, phases


def _class_source(cls: type) -> str:
    """A module class's source, so that editing ``forward`` invalidates the export cache."""
    import inspect

    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return f"{cls.__module__}.{cls.__qualname__}"


_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def export_onnx(module: Any, input_shape: tuple[int, ...], precision: str, path: Path) -> None:
    """Export with a dynamic batch axis (one export serves the whole batch sweep); atomic write into the cache."""
    import torch

    model, dtype = cast_copy(module, precision)
    example = torch.randn(2, *input_shape).to(dtype)
    onnx_export(model, (example,), path, ["input"], ["output"], {"input": {0: "batch"}, "output": {0: "batch"}},
                type(module).__name__)


def cast_copy(module: Any, precision: str) -> tuple[Any, Any]:
    """A copy of ``module`` in ``precision``'s dtype, in eval mode, for export (the cached module stays as it is),
    and that torch dtype."""
    import copy

    import torch

    if precision not in _DTYPES:
        raise ModelError(f"ONNX export in {precision} is not supported; use fp32, fp16 or bf16")
    dtype = getattr(torch, _DTYPES[precision])
    return copy.deepcopy(module).to(dtype=dtype).eval(), dtype


def onnx_export(net: Any, args: tuple[Any, ...], path: Path, input_names: list[str], output_names: list[str],
                dynamic_axes: dict[str, dict[int, str]], what: str) -> None:
    """The one ONNX export (TorchScript exporter, ONNX_OPSET), written atomically to ``path``; a failure is the
    model's error naming ``what`` was exported."""
    import warnings

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic.replacing(path, suffix=".onnx") as tmp, warnings.catch_warnings(), \
                torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(tmp), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=ONNX_OPSET, dynamo=False)
    except Exception as exc:
        raise ModelError(f"ONNX export of {what} failed: {type(exc).__name__}: {exc}") from exc
