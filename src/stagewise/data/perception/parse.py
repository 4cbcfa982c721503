"""Strict parsing of a writer's reply into one multiple-choice item; every failure has a named reason."""

from __future__ import annotations

import json
import re

LETTERS = ("A", "B", "C", "D")
# Spatial words mark a question about a relation; anything else is about a detail (for the per-kind report).
_SPATIAL_RE = re.compile(
    r"\b(left|right|above|below|behind|in front|next to|beside|between|under|over|top|bottom|corner|"
    r"centre|center|middle|near|far|relative|closest|furthest|position|where)\b",
    re.IGNORECASE,
)
_FENCE_RE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


class ParseError(ValueError):
    """A reply that is not one valid item; `reason` is a short key counted in reports."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def question_kind(question: str) -> str:
    return "spatial" if _SPATIAL_RE.search(question) else "detail"


def parse_mcq(reply: str | None) -> dict:
    """`{question, options: {A..D}, answer, kind}` from a reply holding only that JSON object.

    A Markdown code fence around the object is accepted (chat models add one even when told not to); any other
    text, a missing or empty option, repeated options or an answer that is not one of A-D raises ParseError.
    """
    text = (reply or "").strip()
    if not text:
        raise ParseError("empty_reply")
    fenced = _FENCE_RE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError("not_json", e.msg) from e
    if not isinstance(obj, dict):
        raise ParseError("not_object", type(obj).__name__)
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ParseError("missing_question")
    options = obj.get("options")
    if isinstance(options, list) and len(options) == 4:  # ["A. red", ...] or ["red", ...] in letter order
        options = dict(zip(LETTERS, [re.sub(r"^\(?[A-D][.):]\s*", "", str(o)) for o in options], strict=True))
    if not isinstance(options, dict):
        raise ParseError("bad_options", "options is not an object")
    for letter in LETTERS:
        value = options.get(letter)
        if not isinstance(value, (str, int, float)) or not str(value).strip():
            raise ParseError("missing_option", letter)
    if set(options) - set(LETTERS):
        raise ParseError("bad_options", f"extra keys {sorted(set(options) - set(LETTERS))}")
    clean = {k: str(options[k]).strip() for k in LETTERS}
    if len({v.lower() for v in clean.values()}) < 4:
        raise ParseError("duplicate_options")
    answer = str(obj.get("answer", "")).strip().strip("()").rstrip(".").upper()
    if answer not in LETTERS:
        raise ParseError("bad_answer", repr(obj.get("answer")))
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else question_kind(question)
    return {"question": question.strip(), "options": clean, "answer": answer, "kind": kind}


def mcq_text(question: str, options: dict[str, str]) -> str:
    """The question as the filter models and training see it: question, then `A. ...` lines."""
    return question + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
