"""RealWorldQA: the question carries its options and answer instruction; a letter or a short exact answer."""

from __future__ import annotations

import re
from pathlib import Path

from stagewise.eval.benchmarks.common import Generation, base_dir, image_ref, need, overall, read_records
from stagewise.rewards.verify import extract_choice, parse_number

HUB_ID, SPLIT = "xai-org/RealWorldQA", "test"
MODES = ("official",)
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
    return [
        {
            "id": str(r.get("id", i)),
            "question": need(r, "question", f"{source}: row {i}"),
            "answer": str(need(r, "answer", f"{source}: row {i}", (str, int, float))),
            "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
        }
        for i, r in enumerate(recs[:limit] if limit else recs)
    ]


def prompt(row: dict) -> str:
    return row["question"]


def _norm(text: str) -> str:
    return re.sub(r"[\s.!]+$", "", text.strip().lower())


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if re.fullmatch(r"[A-F]", row["answer"].strip()):
        return extract_choice(text, 6)
    return _norm(text) or None


def score(extracted, row: dict, mode: str = "official") -> dict:
    if extracted is None:
        return {"correct": False}
    gold = row["answer"].strip()
    if re.fullmatch(r"[A-F]", gold):
        return {"correct": extracted == gold}
    pred_v, gold_v = parse_number(str(extracted)), parse_number(gold)
    if pred_v is not None and gold_v is not None:
        return {"correct": pred_v == gold_v}
    return {"correct": _norm(str(extracted)) == _norm(gold)}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {"overall": overall(results)}
