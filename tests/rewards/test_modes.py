"""Reward modes: `paper` against the paper's own reward code, `stagewise` boxed-only in training, and the
README's table of where the two differ."""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from pathlib import Path

import mathruler.grader
import pytest

from stagewise.rewards import paper, reward_funcs_for, score_responses
from stagewise.rewards.reward import REWARD_MODES

DATA = Path(__file__).parent / "data" / "paper_rewards.jsonl"
README = Path(__file__).resolve().parents[2] / "README.md"


def _fixture() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines()]


def test_paper_mode_reproduces_the_papers_reward_code_on_every_row() -> None:
    # Expected values: the paper's training/reward_functions/math.py run with mathruler in a scratch
    # environment (bench/make_reward_fixtures.py says how); 492 rows, every shape and answer form of issue 17.
    rows = _fixture()
    assert len(rows) > 400
    scored = score_responses([r["response"] for r in rows], [r["answer"] for r in rows], "paper")
    mismatches = [
        (
            r["id"],
            r["response"][:60],
            r["answer"],
            (r.get("format"), r.get("accuracy")),
            (s.format, s.accuracy),
        )
        for r, s in zip(rows, scored, strict=True)
        if (r.get("paper_timeout") and s.accuracy != 0.0)
        or (
            not r.get("paper_timeout")
            and (s.overall, s.format, s.accuracy) != (r["overall"], r["format"], r["accuracy"])
        )
    ]
    assert mismatches == []


def test_stagewise_mode_differs_from_the_paper_on_the_fixture() -> None:
    # A check that the fixture can tell the modes apart (otherwise the test above could not fail).
    rows = _fixture()
    scored = score_responses([r["response"] for r in rows], [r["answer"] for r in rows], "stagewise")
    differ = sum(
        (s.format, s.accuracy) != (r["format"], r["accuracy"]) for r, s in zip(rows, scored, strict=True)
    )
    assert differ > 50


@pytest.mark.parametrize("mode", REWARD_MODES)
def test_trl_functions_equal_score_responses(mode: str) -> None:
    rows = _fixture()[:120]
    responses, golds = [r["response"] for r in rows], [r["answer"] for r in rows]
    funcs, weights = reward_funcs_for(mode)
    assert [f.__name__ for f in funcs] == ["accuracy_reward", "format_reward"]  # TRL's metric names
    metrics: list[tuple[str, float]] = []
    parts = [f(responses, answer=golds, log_metric=lambda k, v: metrics.append((k, v))) for f in funcs]
    combined = [sum(w * p[i] for w, p in zip(weights, parts, strict=True)) for i in range(len(rows))]
    assert combined == pytest.approx([s.overall for s in score_responses(responses, golds, mode)])
    assert metrics == [("reward/timeouts", 0.0)]


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown reward mode 'strict'"):
        score_responses(["x"], ["1"], "strict")
    with pytest.raises(ValueError, match="modes: stagewise, paper"):
        reward_funcs_for("strict")


# ------------------------------------------------------------------------------------------ paper internals
def test_whitespace_and_format_rules_equal_the_papers_regexes() -> None:
    spaces = re.compile(r"\s*(<|>|/)\s*")
    fmt = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)
    parts = [
        "<",
        ">",
        "/",
        " ",
        "\n",
        "\t",
        "\u00a0",
        "a",
        "think",
        "<think>",
        "</think>",
        "\\boxed{",
        "}",
        "{",
    ]
    rng = random.Random(1)
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randrange(12)))
        normalized = paper.normalize_response(text)
        assert normalized == spaces.sub(r"\1", text), text
        assert paper.format_ok(normalized) == bool(fmt.fullmatch(normalized)), normalized


def test_paper_rules_are_linear_time_on_hostile_responses() -> None:
    hostile = "<think>" + " " * 200_000 + "x" + "\\boxed{" * 20_000 + "</think>" * 1000
    start = time.perf_counter()
    score_responses([hostile, " \t" * 100_000], ["3", "3"], "paper")
    assert time.perf_counter() - start < 1.0


ANSWERS = [
    "3",
    "12",
    "-4",
    "0",
    "-0",
    "007",
    "12.0",
    "1,000",
    "1000",
    "B",
    "b",
    "(B)",
    "E",
    "I",
    "\\text{B}",
    "\\frac{1}{2}",
    "1/2",
    "2/4",
    "0.5",
    "\\frac12",
    "(1,2)",
    "(2,1)",
    "[1,2)",
    "3 cm",
    "x=3",
    "None",
    "yes",
    "12345678901234567891",
    "12345678901234567890",
    "1e3",
    "2\\sqrt{3}",
    "\\sqrt{12}",
    "x+1",
    "1+x",
    "A, B",
]


def test_decisions_without_sympy_equal_mathrulers_grade_answer() -> None:
    decided = 0
    for answer, gold in itertools.product(ANSWERS, ANSWERS):
        verdict = paper.decide_without_sympy(answer, gold)
        if verdict is not None:
            decided += 1
            assert verdict == mathruler.grader.grade_answer(answer, gold), (answer, gold)
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [
        chr(c) for c in range(ord("a"), ord("z") + 1)
    ]
    for answer, gold in itertools.product(letters, letters):
        assert paper.decide_without_sympy(answer, gold) == mathruler.grader.grade_answer(answer, gold)
    rng = random.Random(0)
    for _ in range(2000):
        a, b = str(rng.randrange(-(10**16), 10**16)), str(rng.randrange(-50, 50))
        for answer, gold in ((a, b), (b, a), (b, str(int(b) + rng.choice([0, 1])))):
            verdict = paper.decide_without_sympy(answer, gold)
            if verdict is not None:
                assert verdict == mathruler.grader.grade_answer(answer, gold), (answer, gold)
    assert decided > len(ANSWERS) ** 2 // 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("1000000!", "too_complex:factorial"),
        ("(3)!", "too_complex:factorial"),
        ("9**9**9", "too_complex:exponent_tower"),
        ("((9^9)^9)^9", "too_complex:exponent_tower"),
        ("10**123456", "too_complex:exponent"),
        ("(" * 41 + "3" + ")" * 41, "too_complex:paper"),
        ("9" * 50, "too_complex:paper"),
    ],
)
def test_unbounded_answers_score_0_without_sympy(answer: str, reason: str) -> None:
    start = time.perf_counter()
    (scored,) = score_responses([f"<think>t</think> \\boxed{{{answer}}}"], ["\\frac{1}{2}"], "paper")
    assert (scored.accuracy, scored.reason) == (0.0, reason)
    assert time.perf_counter() - start < 0.5


# ----------------------------------------------------------------------------------------- stagewise mode
def test_stagewise_training_credits_only_a_boxed_answer() -> None:
    responses = [
        "<think>t</think> The answer: 3",
        "<think>t</think> <answer>3</answer>",
        "<think>t</think> the answer is 3.",
        "<think>t</think> \\boxed{3}",
    ]
    train = score_responses(responses, ["3"] * 4, "stagewise")
    assert [s.accuracy for s in train] == [0.0, 0.0, 0.0, 1.0]
    assert [s.reason for s in train] == ["no_answer"] * 3 + ["correct"]
    evaluation = score_responses(responses, ["3"] * 4, "stagewise", training=False)
    assert [s.accuracy for s in evaluation] == [1.0] * 4


def test_ungradable_rows_score_their_format_part_only() -> None:
    scored = score_responses(["<think>t</think> \\boxed{3}", "\\boxed{3}"], [None, None], "stagewise")
    assert [(s.overall, s.accuracy, s.reason) for s in scored] == [
        (0.1, None, "no_gold"),
        (0.0, None, "no_gold"),
    ]


# ---------------------------------------------------------------------------------------- README's table
def _readme_differences() -> list[tuple[str, str, str, str]]:
    """(response, gold, stagewise accuracy/format, paper accuracy/format) from the README's difference
    table."""
    text = README.read_text()
    table = text[
        text.index("<!-- reward-mode-differences -->") : text.index("<!-- /reward-mode-differences -->")
    ]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].startswith("`"):
            rows.append(
                (json.loads(cells[1].strip("`")), json.loads(cells[2].strip("`")), cells[3], cells[4])
            )
    return rows


def test_readme_difference_table_is_what_the_modes_do() -> None:
    rows = _readme_differences()
    assert len(rows) >= 12
    for response, gold, stagewise_cell, paper_cell in rows:
        for mode, cell in (("stagewise", stagewise_cell), ("paper", paper_cell)):
            (scored,) = score_responses([response], [gold], mode)
            assert cell == f"{scored.accuracy:g} / {scored.format:g}", (mode, response, gold, scored)
        assert stagewise_cell != paper_cell, (response, gold)
