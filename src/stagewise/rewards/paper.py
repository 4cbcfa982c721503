"""Reward mode `paper`: the paper's training reward, rule for rule (its `training/reward_functions/math.py` in
UCSC-VLAA/VLM-CapCurriculum, an EasyR1 reward function).

1. Spaces around `<`, `>` and `/` are removed from the response (the paper's fix for Qwen2.5-VL-32B's "< think
   >").
2. format = the whole response matches `<think>.*</think>.*\\boxed\\{.*\\}.*` (DOTALL).
3. accuracy = mathruler's `grade_answer` on mathruler's `extract_boxed_content` (the last `\\boxed{`,
   anywhere, think block included); 0 for an empty box and for a "too complex" answer (> 200 characters, > 10
   `^`/`**`, > 40 `(` or `{`, a run of 50+ digits). A response without a box is graded as the text "None", as
   there.
4. overall = 0.9 accuracy + 0.1 format.

Grading is mathruler's own (a dependency, not a copy). Three things are ours, none changes a grade: (a) the
paper's two regexes are replaced by linear-time equivalents (its whitespace regex is quadratic on long blank
runs; tests check both agree); (b) `decide_without_sympy` follows `grade_answer`'s steps with mathruler's own
normalizers and answers the cases where its sympy call has a known result (distinct plain integers, distinct
single letters), which is what makes multiple-choice and integer grading fast; tests check it against
`grade_answer` on every case it decides; (c) answers whose value is unbounded (`1000000!`, `9**9**9`, an
exponent over 10000) score 0 without being evaluated, where the paper's grader (which calls sympy with no time
limit) would compute for minutes or run out of memory; everything else that reaches sympy runs in a killable
worker process, and a comparison that runs past the timeout scores 0.
"""

from __future__ import annotations

import re

import mathruler.grader as mathruler

try:
    from stagewise.rewards.verify import unbounded_reason
except ImportError:  # the EasyR1 export's copy, beside stagewise_verify.py
    from stagewise_verify import unbounded_reason  # type: ignore[no-redef]

MISSING = "None"
"""What mathruler's `extract_boxed_content` returns when there is no (closed) box."""
SYMPY_TARGET = "mathruler.grader:grade_answer"
"""The function a worker process runs for the comparisons only sympy can decide: `grade_answer(answer,
gold)`."""

_SPECIAL_RE = re.compile(r"[<>/]")
_SMALL_INT_RE = re.compile(r"-?(?:0|[1-9]\d{0,14})")
_LETTER_RE = re.compile(r"[a-z]")


def normalize_response(response: str) -> str:
    """The paper's `re.sub(r"\\s*(<|>|/)\\s*", r"\\1", response)` in linear time: a run of whitespace goes
    exactly when a `<`, `>` or `/` is right before or after it (the regex backtracks quadratically on long
    blank runs). Scans outwards from the few `<`, `>`, `/` only, so ordinary text costs one regex pass."""
    pieces, last = [], 0
    for m in _SPECIAL_RE.finditer(response):
        start = m.start()
        while start > last and response[start - 1].isspace():
            start -= 1
        end = m.end()
        while end < len(response) and response[end].isspace():
            end += 1
        pieces += [response[last:start], m.group()]
        last = end
    pieces.append(response[last:])
    return "".join(pieces)


def format_ok(normalized: str) -> bool:
    """`re.fullmatch(r"<think>.*</think>.*\\\\boxed\\{.*\\}.*", normalized, re.DOTALL)` without backtracking:
    the earliest `</think>`, then the earliest `\\boxed{` after it, leave the most room for what must
    follow."""
    if not normalized.startswith("<think>"):
        return False
    close = normalized.find("</think>", len("<think>"))
    if close == -1:
        return False
    box = normalized.find("\\boxed{", close + len("</think>"))
    return box != -1 and normalized.find("}", box + len("\\boxed{")) != -1


def extract(normalized: str) -> str:
    """mathruler's `extract_boxed_content`: the last `\\boxed{...}` anywhere, stripped; "None" if absent."""
    return mathruler.extract_boxed_content(normalized)


def too_complex(answer: str) -> bool:
    """The paper's guard: such an answer scores 0 without grading."""
    return (
        len(answer) > 200
        or answer.count("^") + answer.count("**") > 10
        or answer.count("(") > 40
        or answer.count("{") > 40
        or re.search(r"\d{50,}", answer) is not None
    )


def _decide_element(gold: str, given: str) -> bool | None:
    """One element of `grade_answer`'s tuple loop; None where only its sympy call can decide."""
    if mathruler._is_frac(gold) and mathruler._is_frac(given):
        return gold == given
    if mathruler._str_is_int(gold) != mathruler._str_is_int(given):
        return False
    if _SMALL_INT_RE.fullmatch(gold) and _SMALL_INT_RE.fullmatch(given):
        return int(gold) == int(given)  # sympy: (a)-(b) == 0 exactly when the integers are equal
    if _LETTER_RE.fullmatch(gold) and _LETTER_RE.fullmatch(given):
        return gold == given  # two symbols: (b)-(c) never simplifies to 0
    return None


def decide_without_sympy(answer: str, gold: str) -> bool | None:
    """`mathruler.grade_answer(answer, gold)` where it is known without sympy, else None."""
    if mathruler.normalize_answer(gold) == mathruler.normalize_answer(answer):
        return True
    gold_n, given_n = mathruler._normalize(gold), mathruler._normalize(answer)
    if gold_n is None:
        return False
    if gold_n == given_n:
        return True
    if len(given_n) == 0:
        return False
    gold_elems, given_elems = mathruler.split_tuple(gold_n), mathruler.split_tuple(given_n)
    if len(gold_elems) > 1 and (gold_n[0] != given_n[0] or gold_n[-1] != given_n[-1]):
        return False
    if len(gold_elems) != len(given_elems):
        return False
    for gold_elem, given_elem in zip(gold_elems, given_elems, strict=True):
        verdict = _decide_element(gold_elem, given_elem)
        if verdict is None:
            return None
        if not verdict:
            return False
    return True


def prejudge(answer: str, gold: str) -> tuple[bool | None, str]:
    """Accuracy of an extracted answer without sympy: ``(correct, reason)``, or ``(None, "symbolic")`` when
    the worker must run ``grade_answer(answer, gold)``."""
    if not answer:
        return False, "empty"
    if too_complex(answer):
        return False, "too_complex:paper"
    reason = unbounded_reason(answer)
    if reason:
        return False, f"too_complex:{reason}"
    verdict = decide_without_sympy(answer, str(gold))
    if verdict is None:
        return None, "symbolic"
    if verdict:
        return True, "correct"
    return False, "no_answer" if answer == MISSING else "wrong"
