"""POPE: yes/no object-hallucination probes; accuracy, precision, recall, F1 and yes-ratio per category.

Official rule (POPE's evaluate script): keep the text before the first period, drop commas, and read "no" if
the words contain "No", "no" or "not", else "yes".
"""

from __future__ import annotations

from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, base_dir, image_ref, need, read_records

HUB_ID, SPLIT = "lmms-lab/POPE", "test"
MODES = ("official",)
SUBSETS: tuple[str, ...] = ("adversarial", "popular", "random")
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
    # --limit: only the first N rows of the category are read (streamed from the hub)
    recs = read_records(
        source,
        split=SPLIT,
        limit=limit,
        keep=(lambda r: r.get("category") == subset) if subset and limit else None,
    )
    base = base_dir(source, images)
    rows = []
    for i, r in enumerate(recs):
        where = f"{source}: row {i}"
        if subset and r.get("category") != subset:
            continue
        answer = need(r, "answer", where).strip().lower()
        if answer not in ("yes", "no"):
            raise DataError(f"{where}: field 'answer' is {answer!r}, expected yes or no")
        rows.append(
            {
                "id": str(r.get("question_id", i)),
                "question": need(r, "question", where),
                "answer": answer,
                "category": r.get("category", "all"),
                "images": [
                    x for x in [image_ref(r.get("image") or r.get("image_source"), base)] if x is not None
                ],
            }
        )
        if limit and len(rows) >= limit:
            break
    return rows


def prompt(row: dict) -> str:
    return row["question"]


def extract(text: str, row: dict, mode: str = "official") -> str:
    text = text.split(".")[0].replace(",", "")
    words = text.split(" ")
    return "no" if "No" in words or "not" in words or "no" in words else "yes"


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"], "predicted": extracted}


def _stats(pairs: list[tuple[str, str]]) -> dict:
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    tn = sum(p == "no" and g == "no" for p, g in pairs)
    fn = sum(p == "no" and g == "yes" for p, g in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(pairs)
    return {
        "accuracy": 100 * (tp + tn) / n if n else 0.0,
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "yes_ratio": 100 * (tp + fp) / n if n else 0.0,
        "total": n,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    pairs = [
        (res.get("predicted") or extract(str(res.get("extracted") or ""), row), row["answer"])
        for row, res in zip(rows, results, strict=True)
    ]
    cats = sorted({r["category"] for r in rows})
    return {
        "overall": _stats(pairs),
        "categories": {
            c: _stats([p for p, r in zip(pairs, rows, strict=True) if r["category"] == c]) for c in cats
        },
    }
