"""Several, integer and named inputs (inputs.py): the marker's inputs=/dims=/unit=, callables, .onnx graph inputs,
outputs of any structure, and each bad input as a clear error. CPU, small models, real torch and onnxruntime."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
# imported here, before pytester's in-process runs: each run drops the modules it imported, and a C extension
# imported again in the same process aborts it
pytest.importorskip("torch.onnx")

from helpers import TWO_INPUTS as TWO  # noqa: E402

from pytest_infperf import inputs as inputs_mod  # noqa: E402
from pytest_infperf.errors import ModelError  # noqa: E402
from pytest_infperf.measure.runner import check_output  # noqa: E402

RUN = ("--infperf-devices=cpu", "--infperf-batches=2", "--infperf-repeats=1", "--benchmark-max-time=0.02",
       "--benchmark-min-rounds=2", "-o", "infperf_memory=off", "-p", "no:randomly")



def _benchmarks(path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    return {b["params"]["infperf_case"]: b for b in data["benchmarks"]}


def _run(pytester: pytest.Pytester, passed: int, **files: str) -> tuple[pytest.RunResult, dict[str, dict]]:
    """Write the perf test files, run them with JSON output, check the outcome; the result and its cells by id."""
    pytester.makepyfile(**files)
    out = pytester.path / "out.json"
    result = pytester.runpytest(*RUN, f"--benchmark-json={out}")
    result.assert_outcomes(passed=passed)
    return result, _benchmarks(out)


def test_named_integer_inputs_with_a_sequence_axis_run_on_torch_and_onnxruntime(pytester: pytest.Pytester):
    result, cells = _run(pytester, 4, test_two=TWO)
    assert sorted(cells) == ["onnxruntime-cpu-fp32-b2-seq4", "onnxruntime-cpu-fp32-b2-seq8",
                             "torch-cpu-fp32-b2-seq4", "torch-cpu-fp32-b2-seq8"]
    cell = cells["onnxruntime-cpu-fp32-b2-seq8"]
    assert cell["params"]["seq"] == 8 and cell["params"]["shape"] == "8"  # plain JSON params, to group by
    info = cell["extra_info"]["infperf"]
    assert info["inputs"] == {"input_ids": {"shape": [8], "dtype": "int64"},
                              "attention_mask": {"shape": [8], "dtype": "int64"},
                              "scale": {"shape": [4], "dtype": "float32"}}
    assert info["unit"] == "sequence" and info["dims"] == {"seq": 8}
    assert info["tokens_per_s"] == pytest.approx(info["images_per_s"] * 8)
    assert info["output_check"]["ok"] and info["output_check"]["max_rel_error"] < 1e-5
    result.stdout.fnmatch_lines(["*time/sequence*sequences/s*tokens/s*"])
    exports = list((pytester.path / ".pytest_cache").rglob("*.onnx"))
    assert len(exports) == 1  # one export (dynamic batch and seq axes) serves both sequence lengths


CALLABLE = '''
import numpy as np
import pytest
import torch


class Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 3)

    def forward(self, x, y):
        return self.lin(x) + y.to(x.dtype).sum(1, keepdim=True), x.sum(1)


def pair():
    return Pair()


def make(batch, dims, generator):
    assert isinstance(generator, np.random.Generator) and dims == {"n": 6}
    x = generator.standard_normal((batch, dims["n"]), dtype=np.float32)
    return x, torch.from_numpy(generator.integers(0, 3, (batch, 2)))


@pytest.mark.infperf(model=pair, inputs=make, dims={"n": [6]})
def test_pair(infperf):
    infperf.benchmark()
'''


def test_callable_inputs_are_passed_positionally(pytester: pytest.Pytester):
    result, cells = _run(pytester, 2, test_pair=CALLABLE)
    assert sorted(cells) == ["onnxruntime-cpu-fp32-b2-n6", "torch-cpu-fp32-b2-n6"]
    assert cells["onnxruntime-cpu-fp32-b2-n6"]["extra_info"]["infperf"]["output_check"]["ok"]
    result.stdout.fnmatch_lines(["*time/image*images/s*"])  # the default unit


def test_every_output_tensor_is_checked(pytester: pytest.Pytester):
    """The second tensor of a dict output differs from the reference (random in forward): the cell is wrong."""
    pytester.makepyfile(test_two=TWO.replace('"pooled": (h.mean(1), h.amax(1))',
                                             '"pooled": (h.mean(1), torch.rand_like(h.amax(1)))'))
    result = pytester.runpytest(*RUN, "--infperf-backends=torch", "-k", "seq4")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*torch-cpu-fp32-b2-seq4: output differs from the torch fp32 reference*"])


def test_check_output_takes_the_worst_tensor():
    ref = [np.ones((2, 3)), np.full((2,), 2.0)]
    assert check_output([np.ones((2, 3)), np.full((2,), 2.0)], ref, "fp32", "torch fp32").ok
    bad = check_output([np.ones((2, 3)), np.full((2,), 2.2)], ref, "fp32", "torch fp32")
    assert not bad.ok and bad.max_rel_error == pytest.approx(0.1)
    nan = check_output([np.ones((2, 3)), np.array([np.nan, 2.0])], ref, "fp32", "torch fp32")
    assert not nan.ok and nan.nonfinite == "output 1 contains NaN"
    with pytest.raises(ModelError, match="output has 1 tensors, the torch fp32 reference 2"):
        check_output([np.ones((2, 3))], ref, "fp32", "torch fp32")


def test_flatten_takes_every_tensor_of_nested_and_model_outputs():
    a, b, c = torch.ones(1), torch.zeros(2), torch.full((3,), 2.0)
    assert [t.numel() for t in inputs_mod.flatten({"x": a, "y": (b, [c]), "z": None})] == [1, 2, 3]
    transformers = pytest.importorskip("transformers")
    out = transformers.modeling_outputs.BaseModelOutputWithPooling(last_hidden_state=a, pooler_output=b)
    assert [t.numel() for t in inputs_mod.flatten(out)] == [1, 2]


def test_generated_values_are_seeded_in_range_and_prefix_stable():
    spec = inputs_mod.parse({"ids": dict(shape=("seq",), dtype="int64", low=3, high=7),
                             "mask": dict(shape=("seq",), dtype="int64", fill=1),
                             "x": dict(shape=(2, "seq"))}, {"seq": [5]}, None, None)
    small = inputs_mod.generate(spec, 2, {"seq": 5}, seed=0)
    large = inputs_mod.generate(spec, 600, {"seq": 5}, seed=0)  # beyond RANDOM_SAMPLES: repeats its samples
    again = inputs_mod.generate(spec, 2, {"seq": 5}, seed=0)
    ids, mask, x = large.values
    assert ids.dtype == np.int64 and ids.min() >= 3 and ids.max() < 7 and set(np.unique(ids)) == {3, 4, 5, 6}
    assert (mask == 1).all() and x.dtype == np.float32 and (x != 0).all() and x.shape == (600, 2, 5)
    assert small.digest() == again.digest() == large[:2].digest()  # the output check's samples at every batch
    assert inputs_mod.generate(spec, 2, {"seq": 5}, seed=1).digest() != small.digest()


def test_torch_tensorrt_skips_inputs_cells_only_for_what_every_cell_needs(pytester: pytest.Pytester):
    """The whole TensorRT family takes several inputs (a profile per input; torch-tensorrt an Input per input, tested
    against the stand-in in test_tensorrt.py): here torch-tensorrt's cells skip for the library or the GPU they lack,
    as any of its cells does, not for their inputs."""
    pytester.makepyfile(test_two=TWO)
    result = pytester.runpytest(*RUN, "--infperf-backends=torch-tensorrt", "-rs")
    result.assert_outcomes(skipped=2)
    assert "runs one float input" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*torch-tensorrt-cpu-fp32-b2-seq4: torch-tensorrt *"])  # not installed / GPUs only


def test_onnxruntime_int8_of_a_model_with_integer_inputs_is_calibrated_on_every_input(pytester: pytest.Pytester):
    """int8 of an inputs= model: the fp32 export with every input, quantized with calibration batches of every input
    (integer ids in range, masks of ones, floats never zero), checked against the fp32 reference like any cell."""
    pytester.makepyfile(test_two=TWO)
    result = pytester.runpytest(*RUN, "--infperf-backends=onnxruntime", "--infperf-precisions=fp32,int8",
                                "--benchmark-json=out.json")
    result.assert_outcomes(passed=4)
    cells = {k: b["extra_info"]["infperf"] for k, b in _benchmarks(pytester.path / "out.json").items()}
    for seq in (4, 8):
        int8 = cells[f"onnxruntime-cpu-int8-b2-seq{seq}"]
        assert int8["output_check"]["ok"] and int8["output_check"]["max_rel_error"] < 0.1
        assert int8["output_check"]["tolerance"] == 0.1
    quantized = list(pytester.path.rglob("*-int8-qdq.onnx"))
    assert len(quantized) == 1  # one Q/DQ model serves both sequence lengths (dynamic axes)
    import onnx

    ops = {node.op_type for node in onnx.load(str(quantized[0])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_a_model_without_inputs_nor_input_shape_names_both():
    with pytest.raises(ModelError, match="must be a dict of per-sample specs"):
        inputs_mod.parse({}, None, None, None)


BAD_MARKERS = [
    ('inputs={"ids": dict(shape=("seq",), dtype="int65")}, dims={"seq": [4]}',
     "inputs['ids']: unknown dtype 'int65'; choose from float32, float16, int64"),
    ('inputs={"ids": dict(shape=("seq",), dtype="int64")}',
     "inputs['ids']: shape ('seq',) names dimension 'seq', which dims= does not declare; add dims={'seq': [...]}"),
    ('inputs={"ids": dict(shape=(4,), dtype="int64")}, dims={"seq": [4]}', "dims seq appear in no input's shape"),
    ('inputs={"ids": dict(shape=(4,), dtype="int64", low=5, high=5)}',
     "inputs['ids']: high=5 must exceed low=5"),
    ('inputs={"ids": dict(shape=(4,), dtype="int64", high=0.5)}', "high=0.5 must be an integer for dtype 'int64'"),
    ('inputs={"ids": dict(shape=(4,), size=3)}', "inputs['ids']: unknown key(s) size"),
    ('inputs={"ids": dict(dtype="int64")}', "inputs['ids'] has no shape"),
    ('inputs={"x": dict(shape=("batch",))}, dims={"batch": [4]}', "dims: 'batch' cannot name a dimension"),
    ('inputs={"x": dict(shape=("n",))}, dims={"n": [0]}', "dims['n']=[0] must be positive integers"),
    ('input_shape=(3,), inputs={"x": dict(shape=(3,))}', "got input_shape= and inputs="),
    ('inputs={"x": dict(shape=("n",))}, dims={"n": [2]}, sequence_dim="seq"', "sequence_dim='seq' is not one of"),
    ('inputs={"x": dict(shape=(3,))}, unit="per image"', "unit='per image' must be a word"),
    ("inputs=[1, 2]", "inputs=[1, 2] must be a dict of per-sample specs"),
]


@pytest.mark.parametrize(("args", "message"), BAD_MARKERS)
def test_bad_inputs_are_collection_errors_naming_the_test(pytester: pytest.Pytester, args, message):
    pytester.makepyfile(test_bad=f"import pytest\n\ndef net():\n    return None\n\n"
                                 f"@pytest.mark.infperf(model=net, {args})\ndef test_x(infperf):\n    pass\n")
    result = pytester.runpytest(*RUN)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's exit code for collection errors
    assert "test_bad.py::test_x: @pytest.mark.infperf" in result.stdout.str()
    assert message in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_an_inputs_key_the_model_does_not_accept_fails_the_cell_with_the_fix(pytester: pytest.Pytester):
    pytester.makepyfile(test_two=TWO.replace('"scale": dict(shape=(4,))', '"scales": dict(shape=(4,))'))
    result = pytester.runpytest(*RUN, "-k", "seq4")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*inputs key(s) 'scales' are not parameters of Two.forward (input_ids, "
                                 "attention_mask, scale); rename the inputs= keys*"])
    assert "Traceback" not in result.stdout.str()


def test_a_model_rejecting_the_generated_inputs_fails_with_what_it_got(pytester: pytest.Pytester):
    pytester.makepyfile(test_two=TWO.replace('"scale": dict(shape=(4,))', '"scale": dict(shape=(5,))'))
    result = pytester.runpytest(*RUN, "--infperf-backends=torch", "-k", "seq4")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([
        r".*torch-cpu-fp32-b2-seq4: the model rejected the generated inputs \(input_ids int64\[2x4\], attention_mask "
        r"int64\[2x4\], scale float32\[2x5\]\): RuntimeError: .*; fix the marker's inputs=.*"])


def _two_input_onnx(path) -> None:
    """A real two-input ONNX file with symbolic batch and sequence dims (names as a transformer export has them)."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(20, 4)

        def forward(self, ids, mask):
            return self.emb(ids) * mask.unsqueeze(-1).float(), mask.sum(1)

    torch.manual_seed(0)
    torch.onnx.export(Net().eval(), (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)),
                      str(path), input_names=["ids", "mask"], output_names=["emb", "count"],
                      dynamic_axes={"ids": {0: "batch", 1: "sequence"}, "mask": {0: "batch", 1: "sequence"}},
                      dynamo=False)


def test_a_two_input_onnx_file_reads_names_dtypes_and_dims_from_its_graph(pytester: pytest.Pytester):
    _two_input_onnx(pytester.path / "two.onnx")
    pytester.makepyfile(test_file='''
import pytest

@pytest.mark.infperf(model="two.onnx", inputs={"ids": dict(high=20)}, dims={"sequence": [3, 7]})
def test_file(infperf):
    infperf.benchmark()
''')
    out = pytester.path / "out.json"
    result = pytester.runpytest(*RUN, f"--benchmark-json={out}", "-rs")
    result.assert_outcomes(passed=2, skipped=2)  # torch cannot run an .onnx file
    cells = _benchmarks(out)
    assert sorted(cells) == ["onnxruntime-cpu-fp32-b2-sequence3", "onnxruntime-cpu-fp32-b2-sequence7"]
    info = cells["onnxruntime-cpu-fp32-b2-sequence7"]["extra_info"]["infperf"]
    assert info["inputs"] == {"ids": {"shape": [7], "dtype": "int64"}, "mask": {"shape": [7], "dtype": "int64"}}
    assert info["output_check"]["ok"] and info["output_check"]["reference"] == "onnxruntime fp32"


@pytest.mark.parametrize(("marker", "message"), [
    ('model="two.onnx"', "two.onnx: input 'ids' has dimension 'sequence' (axis 1) that is neither the batch (the "
                         "first axis) nor given in dims=; add dims={'sequence': [...]}"),
    ('model="two.onnx", inputs={"token_ids": dict(high=20)}, dims={"sequence": [3]}',
     "inputs key(s) 'token_ids' are not inputs of two.onnx (its inputs: ids, mask)"),
    ('model="two.onnx", inputs={"ids": dict(dtype="float32")}, dims={"sequence": [3]}',
     "inputs['ids']: dtype 'float32', but the ONNX graph declares 'int64'"),
])
def test_onnx_file_dims_and_names_are_checked_at_collection(pytester: pytest.Pytester, marker, message):
    _two_input_onnx(pytester.path / "two.onnx")
    pytester.makepyfile(test_file=f"import pytest\n\n@pytest.mark.infperf({marker})\n"
                                  "def test_file(infperf):\n    infperf.benchmark()\n")
    result = pytester.runpytest(*RUN)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "test_file.py::test_file: @pytest.mark.infperf: " in result.stdout.str()
    assert message in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_torch_call_paths_unpack_every_input():
    """The call that torch eager, the CUDA-graph capture and torch.compile wrap (`inputs.caller`): one tensor stays
    the module itself (today's path), several are unpacked by name or position."""
    calls = []

    class Net(torch.nn.Module):
        def forward(self, a, b=None):
            calls.append((a, b))
            return a

    net = Net()
    one = torch.ones(1)
    assert inputs_mod.caller(net, one) is net
    named = inputs_mod.Inputs([("b", np.zeros((1, 2), np.float32)), ("a", np.ones((1, 2), np.int64))], False)
    packed = inputs_mod.to_torch(named, "cpu", torch.float16)
    inputs_mod.caller(net, packed)(packed)
    a, b = calls[-1]
    assert a.dtype == torch.int64 and b.dtype == torch.float16  # integers stay integers; floats take the precision
    positional = inputs_mod.Inputs([("input0", np.ones((1, 2), np.float32)), ("input1", np.ones(1, np.int32))], True)
    packed = inputs_mod.to_torch(positional, "cpu", torch.float32)
    inputs_mod.caller(net, packed)(packed)
    assert calls[-1][1].dtype == torch.int32
    assert inputs_mod.in_forward_order(net, named).names == ["a", "b"]  # the ONNX export's input order


def test_import_does_not_pull_heavy_libraries():
    code = "import sys, pytest_infperf.inputs, pytest_infperf.plugin; print('torch' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_io_binding_binds_every_input_and_output(tmp_path):
    """The CUDA path's binding of several inputs and outputs (`_bind_all`), run here on the CPU provider: each output
    preallocated at its shape, filled by run_with_iobinding, equal to a plain run."""
    import onnxruntime

    from pytest_infperf.backends.onnxruntime_backend import OnnxRuntimeBackend

    _two_input_onnx(tmp_path / "two.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"ids": np.array([[1, 2, 3], [4, 5, 6]], np.int64), "mask": np.ones((2, 3), np.int64)}
    run, output, keep = OnnxRuntimeBackend()._bind_all(onnxruntime, session, feeds, device="cpu")
    run()
    bound = output()
    expected = session.run(None, feeds)
    assert [b.shape for b in bound] == [(2, 3, 4), (2,)]
    for got, want in zip(bound, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_bert_suite_skips_with_the_install_command_without_transformers(pytester: pytest.Pytester, monkeypatch):
    from pathlib import Path

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now raises ImportError
    source = Path(__file__).parents[2] / "perf_tests" / "test_bert.py"
    pytester.makepyfile(test_bert=source.read_text())
    result = pytester.runpytest(*RUN, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*pip install 'pytest-infperf?transformers?'*"])


def test_a_half_precision_bert_export_loads_in_onnxruntime(tmp_path):
    """BERT (transformers) cast to fp16 exports a mistyped graph (fp32 constants beside fp16 LayerNorm weights:
    onnxruntime refused it on the H200, "Type parameter (T) of Optype (LayerNormalization) bound to different
    types"); the export then converts the fp32 export instead, and the cached file loads and runs."""
    transformers = pytest.importorskip("transformers", reason="pip install 'pytest-infperf[transformers]'")
    import onnxruntime

    from pytest_infperf import inputs as spec_inputs

    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                     vocab_size=100)
    model = transformers.BertModel(config).eval()
    spec = spec_inputs.parse({"input_ids": dict(shape=("seq",), dtype="int64", low=0, high=100),
                              "attention_mask": dict(shape=("seq",), dtype="int64", fill=1)},
                             {"seq": [8]}, "sequence", "seq")
    generated = spec_inputs.generate(spec, 2, {"seq": 8}, seed=0)
    path = tmp_path / "bert-fp16.onnx"
    spec_inputs.export_onnx_inputs(model, generated, spec_inputs.dynamic_axes(spec, generated), "fp16", path, "bert")
    assert spec_inputs.onnx_type_error(path) == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bert-fp16.onnx"]  # no unchecked file left behind
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert {i.name: i.type for i in session.get_inputs()} == {"input_ids": "tensor(int64)",
                                                              "attention_mask": "tensor(int64)"}
    assert all(o.type == "tensor(float16)" for o in session.get_outputs())
