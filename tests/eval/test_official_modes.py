"""`--mode official` is the official scorer on the raw response; the harness's chain reading is the mode
`chain`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagewise.eval import harness
from stagewise.eval.benchmarks import load_benchmark, mathvista, wemath

REF = Path(__file__).resolve().parents[3] / "shared" / "benchmarks-ref"


def _wemath_rows() -> list[dict]:
    path = REF / "wemath" / "testmini.json"
    if not path.exists():
        pytest.skip("benchmarks-ref not present")
    return load_benchmark("wemath", str(path))


# (response, what We-Math's official rule reads: the text after the last "Answer", "<>:." and blanks removed,
# its first character if A-H) -- the rule as the official evaluation/ scripts apply it to the raw response.
MESSY = [
    ("Answer: D", "D"),
    ("I think the Answer is: D.", None),  # "is D": first character i
    ("the answer is D", None),  # no "Answer" at all: the whole text, first character t
    ("D", "D"),
    ("<think>Answer: A</think> Answer: <B>.", "B"),
    ("Answer: d", None),  # case-sensitive
    ("Answer: A or B", "A"),
    ("", None),
    ("<think>so</think> \\boxed{C}", None),
]


@pytest.mark.parametrize(("response", "official"), MESSY)
def test_wemath_default_mode_is_the_official_rule_on_the_raw_response(
    response: str, official: str | None
) -> None:
    row = _wemath_rows()[0]
    assert harness.score_response(wemath, row, response, harness.EvalSettings())["extracted"] == official
    assert wemath.official_extract(response) == official


def test_chain_is_a_named_mode_for_every_benchmark() -> None:
    row = _wemath_rows()[0]
    chain = harness.EvalSettings(mode="chain")
    assert harness.score_response(wemath, row, "I think the Answer is: D.", chain)["extracted"] == "D"
    assert harness.score_response(wemath, row, "<think>so</think> \\boxed{C}", chain)["extracted"] == "C"
    with pytest.raises(ValueError, match="modes: official, boxed, vlmevalkit, chain"):
        harness._check(wemath, "wemath", "strict", [])


def test_wemath_messy_set_scores_differ_between_official_and_chain() -> None:
    rows = _wemath_rows()
    responses = [
        f"I think the Answer is: {r['answer']}." for r in rows
    ]  # right, but not in the official form
    official = [
        harness.score_response(wemath, r, x, harness.EvalSettings())["correct"]
        for r, x in zip(rows, responses, strict=True)
    ]
    chain = [
        harness.score_response(wemath, r, x, harness.EvalSettings(mode="chain"))["correct"]
        for r, x in zip(rows, responses, strict=True)
    ]
    assert sum(official) == 0 and sum(chain) == len(rows)
    m = wemath.metrics(rows, [{"correct": c} for c in official])
    assert m["score_strict"] == 0.0 and m["counts"]["IK"] == m["problems"]


def test_mathvista_non_string_extraction_is_str_as_in_the_official_code() -> None:
    row = {
        "question_type": "multi_choice",
        "answer_type": "text",
        "choices": ["Nonet", "yes", "no"],
        "answer": "Nonet",
        "precision": None,
    }
    # official: str(None) = "None", nearest choice by edit distance "Nonet" (the old "" picked "no")
    assert mathvista.normalize(None, row) == "Nonet"
    assert mathvista.normalize(3, {**row, "choices": ["3", "4"]}) == "3"


def test_metrics_record_whether_a_run_was_official(tmp_path: Path) -> None:
    rows = _wemath_rows()[:6]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(f'{{"id": "{r["id"]}", "response": "Answer: A"}}\n' for r in rows))
    for mode, extract, official in (
        ("official", None, True),
        ("chain", None, False),
        ("official", "chain", False),
    ):
        m = harness.score(
            "wemath",
            rows,
            preds,
            tmp_path / f"{mode}-{extract}",
            harness.EvalSettings(mode=mode, extract=extract),
        )
        assert m["run"]["official"] is official


def test_recipes_may_name_the_chain_mode(tmp_path: Path) -> None:
    import yaml

    from stagewise.config import RecipeError, load_recipe

    data = {
        "name": "r",
        "stages": [{"name": "a", "data": {"families": ["perception"]}}],
        "eval": {"benchmarks": [{"name": "wemath", "mode": "chain"}]},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    assert load_recipe(tmp_path / "r.yaml").eval.benchmarks[0].mode == "chain"
    data["eval"]["benchmarks"][0]["mode"] = "strict"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(
        RecipeError, match="wemath has modes official, boxed, vlmevalkit, chain, not 'strict'"
    ):
        load_recipe(tmp_path / "r.yaml")
