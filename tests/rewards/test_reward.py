"""Tests for the TRL reward functions."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from stagewise.rewards import (
    ACCURACY_WEIGHT,
    FORMAT_WEIGHT,
    accuracy_reward,
    completion_text,
    format_reward,
    paper_reward,
    reward_funcs_for,
)

GOOD = r"<think>I see 2 red circles and 1 blue one. 2 + 1 = 3.</think> \boxed{3}"
WRONG = r"<think>2 + 2 = 4.</think> \boxed{4}"
NO_THINK = r"The count is \boxed{3}"
NO_BOX = "<think>counting</think> 3"
EMPTY_BOX = r"<think>hmm</think> \boxed{}"


def as_conversation(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": text}]


def as_parts(text: str) -> list[dict[str, Any]]:
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    return [
        {"role": "assistant", "content": [{"type": "text", "text": head}, {"type": "text", "text": tail}]}
    ]


FORMATS = [pytest.param(lambda t: t, id="string"), pytest.param(as_conversation, id="conversation"),
           pytest.param(as_parts, id="content-parts")]  # fmt: skip


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "msg"}], "msg"),
        ({"role": "assistant", "content": "single"}, "single"),
        (
            [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                }
            ],
            "ab",
        ),
        ([{"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "t"}]}], "t"),
        ([{"role": "assistant", "content": None}], ""),
        ([{"role": "user", "content": "question"}, {"role": "assistant", "content": "reply"}], "reply"),
        ([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}], "a\nb"),
    ],
)
def test_completion_text(completion: Any, expected: str) -> None:
    assert completion_text(completion) == expected


@pytest.mark.parametrize("wrap", FORMATS)
def test_accuracy_reward(wrap: Any) -> None:
    responses = [
        GOOD,
        WRONG,
        NO_THINK,
        NO_BOX,
        EMPTY_BOX,
        r"<think>x</think> \boxed{B}",
        r"\boxed{A, B, C, D}",
    ]
    answers = ["3", "3", "3", "3", "3", "B", "B"]
    kinds = ["number", "number", "number", "number", "number", "choice", "choice"]
    completions = [wrap(r) for r in responses]
    expected = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert accuracy_reward(completions, answer=answers, answer_kind=kinds) == expected
    # Without answer_kind the kinds are inferred, and TRL's extra kwargs are tolerated.
    assert accuracy_reward(completions, answer=answers, trainer_state=None, prompts=[""] * 7) == expected


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        (r"<think>x</think> \boxed{b}", "B", 1.0),  # inferred choice
        (r"<think>x</think> \boxed{1,000}", "1000", 1.0),  # inferred number
        (r"<think>x</think> \boxed{\frac{1}{2}}", "0.5", 1.0),
        (r"<think>x</think> \boxed{2\sqrt{2}}", r"\sqrt{8}", 1.0),  # inferred expression
        (r"<think>x</think> \boxed{3}", r"\sqrt{8}", 0.0),
    ],
)
def test_accuracy_reward_infers_kind(response: str, gold: str, expected: float) -> None:
    assert accuracy_reward([response], answer=[gold]) == [expected]


@pytest.mark.parametrize("wrap", FORMATS)
def test_format_reward(wrap: Any) -> None:
    responses = [GOOD, WRONG, NO_THINK, NO_BOX, EMPTY_BOX, "<think>a</think><think>b</think> \\boxed{3}"]
    assert format_reward([wrap(r) for r in responses]) == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]


PAPER_CASES = [
    (GOOD, "3", 1.0),
    (WRONG, "3", 0.1),
    (NO_THINK, "3", 0.9),
    (NO_BOX, "3", 0.0),
    (EMPTY_BOX, "3", 0.1),
    (r"<think>x</think> \boxed{A/B/C/D}", "A", 0.1),
    (r"<think>x</think> \boxed{C}", "C", 1.0),
]


@pytest.mark.parametrize("wrap", FORMATS)
def test_paper_reward_is_weighted_sum(wrap: Any) -> None:
    completions = [wrap(response) for response, _, _ in PAPER_CASES]
    answers = [gold for _, gold, _ in PAPER_CASES]
    total = paper_reward(completions, answer=answers)
    accuracy = accuracy_reward(completions, answer=answers)
    fmt = format_reward(completions)
    assert total == pytest.approx(
        [ACCURACY_WEIGHT * a + FORMAT_WEIGHT * f for a, f in zip(accuracy, fmt, strict=True)]
    )
    assert total == pytest.approx([expected for _, _, expected in PAPER_CASES])


def test_reward_funcs_match_paper_reward() -> None:
    funcs, weights = reward_funcs_for()
    assert [f.__name__ for f in funcs] == ["accuracy_reward", "format_reward"]  # TRL logs rewards/<name>/mean
    assert weights == [0.9, 0.1]
    completions = [response for response, _, _ in PAPER_CASES]
    answers = [gold for _, gold, _ in PAPER_CASES]
    parts = [f(completions, answer=answers) for f in funcs]
    combined = [sum(w * p[i] for w, p in zip(weights, parts, strict=True)) for i in range(len(completions))]
    assert combined == pytest.approx(paper_reward(completions, answer=answers))


def test_missing_gold_is_ignored_not_punished() -> None:
    completions = [GOOD, GOOD]
    assert accuracy_reward(completions, answer=[None, "3"]) == [None, 1.0]
    # Matches TRL's NaN-skipping weighted sum: only the format part counts.
    assert paper_reward(completions, answer=[None, "3"]) == pytest.approx([0.1, 1.0])


def test_reward_functions_pickle() -> None:
    for func in (accuracy_reward, format_reward, paper_reward):
        assert pickle.loads(pickle.dumps(func)) is func


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        accuracy_reward([GOOD, GOOD], answer=["3"])
