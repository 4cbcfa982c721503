"""Reward modes and TRL-style reward functions: ``f(completions, **kwargs) -> list[float | None]``.

Dataset columns arrive as keyword lists aligned with ``completions``: ``answer`` (gold) and optionally
``answer_kind``. Every mode pays ``0.9 * accuracy + 0.1 * format``; for GRPO pass ``reward_funcs_for(mode)``
to TRL (with its ``reward_weights``) so the two parts are logged separately. Modes (``REWARD_MODES``):

- ``stagewise``: the shared verifier (`verify.py`, math_verify behind structural guards and an arithmetic fast
  path); in training only a boxed answer after the think block is credited.
- ``paper``: the paper's own reward function, rule for rule, on mathruler (`paper.py`).

`score_responses` grades a whole step at once: cheap decisions in this process, each distinct (gold, answer)
pair graded once (memoized within the call), and the comparisons only a symbolic library can decide spread
over persistent worker processes, one per core, each killed past the timeout.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stagewise.rewards import paper
from stagewise.rewards.verify import (
    DEFAULT_TIMEOUT_S,
    extract_answer,
    format_ok,
    infer_kind,
    prejudge,
    symbolic_equal,
    worker_equal,
)

log = logging.getLogger(__name__)

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


REWARD_MODES = ("stagewise", "paper")


@dataclass
class Scored:
    """One graded response."""

    overall: float
    """0.9 x accuracy + 0.1 x format (an ungradable row: its format part only)."""
    format: float
    """1.0 when the response has the mode's format."""
    accuracy: float | None
    """1.0 when the extracted answer matches the gold answer; None without a gold answer."""
    extracted: str | None
    """What the mode read as the final answer (None: nothing; paper mode reads a missing box as "None")."""
    reason: str
    """Why: correct, wrong, no_answer, empty, no_gold, too_complex:<guard>, timeout or error."""


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """Threads that persist across calls, so does each one's math worker process (`verify.MathWorker`)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child starts its own
            _pool, _pool_pid = (
                ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="grader"),
                os.getpid(),
            )
        return _pool


def _paper_symbolic(answer: str, gold: str, timeout_s: float) -> tuple[bool, str]:
    return worker_equal(paper.SYMPY_TARGET, [answer, gold], timeout_s, "mathruler", gold, answer)


def run_symbolic(jobs: list[Callable[[], tuple[bool, str]]]) -> list[tuple[bool, str]]:
    """Run comparisons in parallel on the persistent workers (here when there is only one)."""
    if len(jobs) <= 1 or _cores() == 1:
        return [job() for job in jobs]
    return list(_executor().map(lambda job: job(), jobs))


def score_responses(
    responses: Sequence[str],
    golds: Sequence[str | None],
    mode: str = "stagewise",
    kinds: Sequence[str | None] | None = None,
    *,
    training: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[Scored]:
    """Grade responses against gold answers under a reward mode (`REWARD_MODES`).

    ``training`` (stagewise mode): credit a boxed answer only; off, the evaluation extraction also reads an
    ``<answer>`` tag or "the answer is X". ``kinds`` (stagewise mode): answer kinds, inferred from gold if
    None.
    """
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward mode {mode!r} (modes: {', '.join(REWARD_MODES)})")
    kinds = list(kinds) if kinds is not None else [None] * len(golds)
    formats, extracted, keys = [], [], []
    for response, gold, kind in zip(responses, golds, kinds, strict=True):
        if mode == "paper":
            text = paper.normalize_response(response)
            formats.append(float(paper.format_ok(text)))
            answer: str | None = paper.extract(text)
        else:
            formats.append(float(format_ok(response)))
            answer = extract_answer(response, boxed_only=training)
            kind = kind or (infer_kind(str(gold)) if gold is not None else None)
        extracted.append(answer)
        keys.append(None if gold is None else (str(gold), kind, answer))
    verdicts: dict[tuple, tuple[bool | None, str]] = {}
    for key in keys:
        if key is not None and key not in verdicts:
            gold, kind, answer = key
            verdicts[key] = paper.prejudge(answer, gold) if mode == "paper" else prejudge(answer, gold, kind)
    pending = [key for key, (verdict, _) in verdicts.items() if verdict is None]
    if pending:
        if mode == "paper":
            jobs = [lambda k=k: _paper_symbolic(k[2], k[0], timeout_s) for k in pending]
        else:
            jobs = [lambda k=k: symbolic_equal(k[0].strip(), k[2].strip(), timeout_s) for k in pending]
        verdicts.update(zip(pending, run_symbolic(jobs), strict=True))
    out = []
    for fmt, answer, key in zip(formats, extracted, keys, strict=True):
        if key is None:
            out.append(Scored(FORMAT_WEIGHT * fmt, fmt, None, answer, "no_gold"))
            continue
        ok, reason = verdicts[key]
        acc = float(bool(ok))
        out.append(Scored(ACCURACY_WEIGHT * acc + FORMAT_WEIGHT * fmt, fmt, acc, answer, reason))
    return out


def _texts(completions: Sequence[Completion]) -> list[str]:
    return [completion_text(c) for c in completions]


def _accuracy(
    mode: str, completions: Sequence[Completion], answer: Sequence[str | None], kwargs: dict
) -> list[float | None]:
    scored = score_responses(_texts(completions), answer, mode, kwargs.get("answer_kind"))
    if callable(kwargs.get("log_metric")):  # TRL >= 1.x hands reward functions a metric logger
        kwargs["log_metric"]("reward/timeouts", float(sum(s.reason == "timeout" for s in scored)))
    return [s.accuracy for s in scored]


def accuracy_reward(
    completions: Sequence[Completion], answer: Sequence[str | None], **kwargs: Any
) -> list[float | None]:
    """Stagewise mode: 1.0 when the boxed answer matches the gold ``answer``; None where there is no gold.
    Logs ``reward/timeouts`` (comparisons of the step that ran past the timeout and scored 0)."""
    return _accuracy("stagewise", completions, answer, kwargs)


def format_reward(completions: Sequence[Completion], **kwargs: Any) -> list[float]:
    """Stagewise mode: 1.0 when the response is ``<think>...</think> ... \\boxed{...}``."""
    return [float(format_ok(t)) for t in _texts(completions)]


def paper_accuracy_reward(
    completions: Sequence[Completion], answer: Sequence[str | None], **kwargs: Any
) -> list[float | None]:
    """Paper mode: mathruler's grade of the last box (see `paper.py`); logs ``reward/timeouts``."""
    return _accuracy("paper", completions, answer, kwargs)


def paper_format_reward(completions: Sequence[Completion], **kwargs: Any) -> list[float]:
    """Paper mode: the paper's format regex after its whitespace fix."""
    return [float(paper.format_ok(paper.normalize_response(t))) for t in _texts(completions)]


# TRL logs each part under its function's __name__ (rewards/accuracy_reward/mean), whatever the mode; pickling
# goes by __qualname__, which stays unique.
paper_accuracy_reward.__name__ = "accuracy_reward"
paper_format_reward.__name__ = "format_reward"
_MODE_FUNCS: dict[str, list[Callable[..., list]]] = {
    "stagewise": [accuracy_reward, format_reward],
    "paper": [paper_accuracy_reward, paper_format_reward],
}


def reward_funcs_for(mode: str = "stagewise") -> tuple[list[Callable[..., list]], list[float]]:
    """``(reward_funcs, reward_weights)`` for TRL's GRPO in a reward mode: accuracy and format, 0.9/0.1."""
    if mode not in _MODE_FUNCS:
        raise ValueError(f"unknown reward mode {mode!r} (modes: {', '.join(REWARD_MODES)})")
    return list(_MODE_FUNCS[mode]), [ACCURACY_WEIGHT, FORMAT_WEIGHT]


def paper_reward(
    completions: Sequence[Completion], answer: Sequence[str | None], **kwargs: Any
) -> list[float | None]:
    """``0.9 * accuracy + 0.1 * format`` in one function, stagewise mode; an ungradable row scores its format
    part only, as TRL's NaN-skipping weighted sum of ``reward_funcs_for()`` would."""
    return [
        s.overall
        for s in score_responses(_texts(completions), answer, "stagewise", kwargs.get("answer_kind"))
    ]
