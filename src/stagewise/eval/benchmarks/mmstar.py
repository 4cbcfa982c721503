"""MMStar: options are in the question; the official rule reads the first character of the answer.

Official rule (MMStar-Benchmark/MMStar, eval/vlmeval/evaluate/mmstar.py), lower-cased: the first character, or
the one after a leading "(", "option " or "the answer is ". Modes: `official`; `vlmevalkit` (an option letter
found anywhere, by the shared verifier's choice reader).
"""

from __future__ import annotations

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

HUB_ID, SPLIT = "Lin-Chen/MMStar", "val"
MODES = ("official", "vlmevalkit")
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule


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
        rows.append(
            {
                "id": str(r.get("index", i)),
                "question": _with_options(need(r, "question", where), r),
                "answer": need(r, "answer", where).strip(),
                "category": r.get("category"),
                "l2_category": r.get("l2_category"),
                "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
            }
        )
    return rows


def _with_options(question: str, record: dict) -> str:
    """The HF release has the options in the question; VLMEvalKit's TSV has them in columns A-D."""
    opts = [(k, record[k]) for k in "ABCDEF" if record.get(k) not in (None, "")]
    if not opts or "Options:" in question:
        return question
    return question + "\nOptions: " + ", ".join(f"{k}: {v}" for k, v in opts)


def prompt(row: dict) -> str:
    return row["question"]


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if mode == "vlmevalkit":
        return extract_choice(text, 6)
    text = text.lower().strip().replace("\n", " ")
    for prefix in ("(", "option ", "the answer is "):
        if text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix)].upper()
    return text[0].upper() if text else None


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"]}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {
        "overall": overall(results),
        "categories": breakdown(rows, results, lambda r: r["category"]),
        "l2_categories": breakdown(rows, results, lambda r: r["l2_category"]),
    }
