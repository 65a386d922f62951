"""compare.baseline: a file cut short is called truncated wherever the cut falls, a wrong character corrupt."""

from __future__ import annotations

import json

import pytest

from pytest_infperf.compare.baseline import read_run, truncated


def _error(text: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    return caught.value


def test_every_cut_of_a_baseline_like_document_reads_as_truncated():
    # the numbers a baseline holds: exponents (CPU probes, 4.1e-05), decimals, negatives, true/false/null
    text = json.dumps({"benchmarks": [{"samples": [4.123456789e-05, 0.0097, -1.5], "ok": True, "x": None,
                                       "throttled": False, "name": "torch-cpu-fp32-b1"}]})
    for cut in range(1, len(text)):
        assert truncated(text[:cut], _error(text[:cut])), text[:cut]


@pytest.mark.parametrize("text", ["{not json", '{"a": 1} x', '{"a": [1, @]}', '{"a": [1.2.3]}'])
def test_a_wrong_character_is_corrupt(text):
    assert not truncated(text, _error(text))


def test_read_run_skips_cells_whose_output_check_failed(tmp_path):
    """A wrong-output cell an older version saved is not a baseline: the run has no timing for it (the cell is new)."""
    good, wrong = "t.py::test_net[fake-cpu-fp32-b1]", "t.py::test_net[fake-cpu-fp32-b8]"
    check = {"reference": "torch fp32", "max_rel_error": None, "tolerance": 0.01, "nonfinite": "output contains NaN",
             "ok": False}
    path = tmp_path / "0001_main.json"
    path.write_text(json.dumps({
        "machine_info": {"infperf": {"schema": 3, "fingerprint": "fp", "fields": {}}},
        "benchmarks": [
            {"fullname": good, "stats": {"data": [0.01, 0.011]}},
            {"fullname": wrong, "stats": {"data": [0.001, 0.0011]},
             "extra_info": {"infperf": {"output_check": check, "memory": {"peak_mib": 10.0}}}},
        ],
        "infperf": {"schema": 3, "outcomes": {}},
    }))
    run = read_run(path, "fp")
    assert set(run.cells) == {good}
    assert wrong not in run.memory and wrong not in run.cold
