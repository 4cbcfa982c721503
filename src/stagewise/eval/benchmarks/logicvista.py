"""LogicVista: multiple choice where some answers are several letters ("B, D"); set match of the letters.

Modes: `official` (the letters, split on ", ", lower-cased and sorted, must equal the gold's:
eval/extract_accuracy.py; its GPT-4 letter reader is a judge here, the rules read the letters without one);
`lmms_eval` (one letter only, as lmms-eval collapses the answer: multi-letter gold answers can then never be
matched).
"""

from __future__ import annotations

import re
from pathlib import Path

from stagewise.eval.benchmarks.common import (
    Generation,
    base_dir,
    breakdown,
    image_ref,
    need,
    numbered,
    overall,
    read_records,
)
from stagewise.rewards.verify import extract_choice

HUB_ID, SPLIT = "lscpku/LogicVista", "test"
MODES = ("official", "lmms_eval")
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule
_LETTER_LIST = re.compile(r"\(?([A-H])\)?(?:\s*(?:,|and|&|/)\s*\(?([A-H])\)?)*\s*\.?")


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    recs = read_records(source, split=SPLIT, limit=limit)  # --limit reads only what it scores
    base = base_dir(source, images)
    rows = []
    for i, r, where in numbered(recs, limit, source):
        rid = str(r.get("_key") or r.get("id") or i)
        img = r.get("image") or r.get("imagename")
        if (
            isinstance(img, str)
            and base is not None
            and not (base / img).exists()
            and (base / "images" / img).exists()
        ):
            img = f"images/{img}"
        rows.append(
            {
                "id": rid,
                "question": need(r, "question", where),
                "answer": str(need(r, "answer", where)),
                "skill": r.get("skill") or [],
                "capability": r.get("broad_capability") or [],
                "images": [x for x in [image_ref(img, base)] if x is not None],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return row["question"]


def letter_set(text: str | None) -> set[str]:
    if not text:
        return set()
    text = text.strip()
    if _LETTER_LIST.fullmatch(text):
        return set(re.findall(r"[A-H]", text))
    one = extract_choice(text, 8)
    return {one} if one else set()


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    entry = text.split("ASSISTANT:")[1] if "ASSISTANT:" in text else text  # as extract_accuracy.py reads it
    one = entry.strip()
    # the official script's only rule before GPT-4 reads the answer: one character that is neither a-e nor a
    # digit is no answer ("ZZZZZ")
    odd = one.lower() not in "abcde" if one.isalpha() else not one.isnumeric()
    if mode == "official" and len(one) == 1 and odd:
        return "ZZZZZ"
    found = sorted(letter_set(text))
    if mode == "lmms_eval":
        found = found[:1]
    return ", ".join(found) or text.strip() or None  # a few gold answers are not letters


def score(extracted, row: dict, mode: str = "official") -> dict:
    if mode == "lmms_eval":
        return {"correct": extracted is not None and str(extracted) == row["answer"].strip()}
    return {"correct": _answers(extracted) == _answers(row["answer"])}


def _answers(text) -> list[str]:
    """The official match: both sides split on ", ", lower-cased and sorted, then compared as lists (so a
    letter given twice is not the letter once)."""
    return sorted(x.strip().lower() for x in str(text or "").split(", "))


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {
        "overall": overall(results),
        "skills": breakdown(rows, results, lambda r: r["skill"]),
        "capabilities": breakdown(rows, results, lambda r: r["capability"]),
    }
