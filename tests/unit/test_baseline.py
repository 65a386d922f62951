"""compare.baseline: a file cut short is called truncated wherever the cut falls, a wrong character corrupt."""

from __future__ import annotations

import json

import pytest

from pytest_infperf.compare.baseline import truncated


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
