"""TRL-style reward functions: ``f(completions, **kwargs) -> list[float | None]``.

Dataset columns arrive as keyword lists aligned with ``completions``: ``answer`` (gold) and optionally
``answer_kind``. The paper's reward is ``0.9 * accuracy + 0.1 * format``; for GRPO pass
``paper_reward_funcs()`` to TRL (with ``reward_weights``) so the two parts are logged separately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stagewise.rewards.verify import extract_answer, format_ok, grade, infer_kind

ACCURACY_WEIGHT = 0.9
FORMAT_WEIGHT = 0.1

Completion = str | dict[str, Any] | Sequence[dict[str, Any]]


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            parts.append(part.get("text") or "")
    return "".join(parts)


def completion_text(completion: Completion) -> str:
    """Text of one completion: a string, a message dict, or a conversation (list of message dicts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _message_text(completion)
    # Only the model's own turns are graded; tool or user turns in a conversation are not its answer.
    return "\n".join(
        _message_text(message) for message in completion if message.get("role", "assistant") == "assistant"
    )


def _kinds(answer: Sequence[str | None], answer_kind: Sequence[str | None] | None) -> list[str | None]:
    kinds = list(answer_kind) if answer_kind is not None else [None] * len(answer)
    return [
        kind or (infer_kind(str(gold)) if gold is not None else None)
        for gold, kind in zip(answer, kinds, strict=True)
    ]


def accuracy_reward(
    completions: Sequence[Completion], answer: Sequence[str | None], **kwargs: Any
) -> list[float | None]:
    """1.0 when the extracted final answer matches the gold ``answer``; None where there is no gold."""
    kinds = _kinds(answer, kwargs.get("answer_kind"))
    rewards: list[float | None] = []
    for completion, gold, kind in zip(completions, answer, kinds, strict=True):
        if gold is None or kind is None:
            rewards.append(None)  # TRL ignores None (NaN) rather than punishing a row it cannot grade
            continue
        rewards.append(float(grade(extract_answer(completion_text(completion)), str(gold), kind)))
    return rewards


def format_reward(completions: Sequence[Completion], **kwargs: Any) -> list[float]:
    """1.0 when the response is ``<think>...</think> ... \\boxed{...}``."""
    return [float(format_ok(completion_text(completion))) for completion in completions]


def paper_reward(
    completions: Sequence[Completion], answer: Sequence[str | None], **kwargs: Any
) -> list[float | None]:
    """``0.9 * accuracy + 0.1 * format`` in one function; an ungradable row scores its format part only,
    as TRL's NaN-skipping weighted sum of ``paper_reward_funcs()`` would."""
    accuracy = accuracy_reward(completions, answer, **kwargs)
    fmt = format_reward(completions, **kwargs)
    return [
        FORMAT_WEIGHT * f + (ACCURACY_WEIGHT * a if a is not None else 0.0)
        for a, f in zip(accuracy, fmt, strict=True)
    ]


def paper_reward_funcs() -> tuple[list[Callable[..., list]], list[float]]:
    """``(reward_funcs, reward_weights)`` for TRL's GRPO whose weighted sum equals ``paper_reward``."""
    return [accuracy_reward, format_reward], [ACCURACY_WEIGHT, FORMAT_WEIGHT]


REWARD_FUNCS: dict[str, Callable[..., list]] = {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "paper": paper_reward,
}
