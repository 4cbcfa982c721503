"""The paper presets' benchmark modes read a think/boxed response's final answer (as the paper's VLMEvalKit
judge does), where the authors' rule on the raw response would not."""

from __future__ import annotations

import pytest
from paper_presets import PAPER, load_preset

from stagewise.eval import harness
from stagewise.eval.benchmarks import get_benchmark

MC = {
    "question_type": "multi_choice",
    "answer_type": "text",
    "choices": ["3", "4", "5", "6"],
    "answer": "4",
    "precision": None,
    "prompt": "q",
}
# benchmark -> (row, a think/boxed response with the right final answer, whether the official raw reading
# credits it)
CASES = {
    "mathvista": (MC, "<think>Could it be 3? No.</think> \\boxed{B}", False),
    "mathvision": ({"answer": "12", "options": []}, "<think>7 or 12</think> \\boxed{12}", True),
    "mathverse": ({"answer": "12", "question_type": "free-form"}, "<think>so</think> \\boxed{12}", False),
    "wemath": ({"answer": "B", "option": "A. 1;B. 2"}, "<think>not A</think> \\boxed{B}", False),
    "logicvista": ({"answer": "B"}, "<think>A or C?</think> \\boxed{B}", False),
    "dynamath": ({"answer": "3.5", "answer_type": "float"}, "<think>3.5</think> \\boxed{3.5}", False),
    "hallusionbench": (
        {"answer": "1", "category": "VD", "figure_id": "1"},
        "<think>No wait, look again.</think> \\boxed{Yes}",
        False,
    ),
    "mmstar": ({"answer": "B"}, "<think>A?</think> \\boxed{B}", False),
    "aokvqa": (
        {"answer": "B", "choices": ["cat", "dog", "bird", "fish"]},
        "<think>A or C?</think> \\boxed{B}",
        False,
    ),
    "realworldqa": ({"answer": "B"}, "<think>A, B or C? Not A.</think> \\boxed{B}", False),
    "pope": ({"answer": "no"}, "<think>Yes? Look again.</think> \\boxed{No}", False),
}
# The paper's Table 1 suite (its evaluation/README.md, VLMCC_BENCH=main), which the presets evaluate.
TABLE_1 = {"mathvista", "mathvision", "mathverse", "wemath", "aokvqa", "realworldqa", "mmstar", "pope"}


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_presets_load_and_their_modes_read_the_boxed_answer(path, tmp_path, monkeypatch) -> None:
    benchmarks = load_preset(path, tmp_path, monkeypatch).eval.benchmarks
    assert {b.name for b in benchmarks} == TABLE_1
    assert [b.subset for b in benchmarks if b.name == "mathverse"] == ["Vision Intensive"]
    for b in benchmarks:
        row, response, official_credits = CASES[b.name]
        bench = get_benchmark(b.name)
        preset = harness.score_response(bench, row, response, harness.EvalSettings(mode=b.mode))
        assert preset["correct"], (path.stem, b.name, b.mode, preset)
        official = harness.score_response(bench, row, response, harness.EvalSettings())
        assert official["correct"] is official_credits, (b.name, official)
        # a preset that leaves the official mode does so only where the official raw reading misses the box
        assert (b.mode == "official") is official_credits, b.name
