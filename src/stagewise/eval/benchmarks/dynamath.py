"""DynaMath: each seed question comes in several generated variants; average and worst-case accuracy.

Worst-case accuracy counts a seed question only if every one of its variants is answered correctly. Answers:
multiple choice (a letter), float (absolute error at most 1e-3, as the official scorer) or text (exact after
normalisation).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from stagewise.eval.benchmarks.common import acc, base_dir, breakdown, image_ref, need, overall, read_records
from stagewise.rewards.verify import extract_choice, parse_number

HUB_ID, SPLIT = "DynaMath/DynaMath_Sample", None
MODES = ("official",)


def load(
    source: str | Path = HUB_ID, limit: int | None = None, images: str | Path | None = None
) -> list[dict]:
    recs = read_records(source, split=SPLIT)
    base = base_dir(source, images)
    rows = []
    for i, r in enumerate(recs[:limit] if limit else recs):
        where = f"{source}: row {i}"
        qid = str(r.get("qid", r.get("question_id", r.get("id"))))
        variant = str(r.get("varid", r.get("variant", r.get("split", i))))
        if qid == "None":
            raise_missing(where)
        rows.append(
            {
                "id": f"{qid}-{variant}",
                "qid": qid,
                "question": need(r, "question", where),
                "answer": str(need(r, "ground_truth", where, (str, int, float))),
                "answer_type": r.get("answer_type", "text"),
                "subject": r.get("subject"),
                "level": r.get("knowledge_level"),
                "images": [
                    x for x in [image_ref(r.get("decoded_image") or r.get("image"), base)] if x is not None
                ],
            }
        )
    return rows


def raise_missing(where: str):
    from stagewise.data.sources import DataError

    raise DataError(f"{where}: missing field 'qid' (the seed question id shared by its variants)")


def prompt(row: dict) -> str:
    return row["question"]


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if row["answer_type"] == "multiple choice":
        return extract_choice(text, 8)
    return text.strip()


def score(extracted, row: dict, mode: str = "official") -> dict:
    if extracted is None:
        return {"correct": False}
    if row["answer_type"] == "multiple choice":
        return {"correct": extracted == row["answer"].strip()}
    if row["answer_type"] == "float":
        pred, gold = parse_number(str(extracted)), parse_number(row["answer"])
        return {"correct": pred is not None and gold is not None and abs(pred - gold) <= 1e-3}
    return {"correct": str(extracted).strip().lower().rstrip(".") == row["answer"].strip().lower()}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    seeds: dict[str, bool] = defaultdict(lambda: True)
    for row, res in zip(rows, results, strict=True):
        seeds[row["qid"]] &= bool(res["correct"])
    return {
        "average": overall(results),
        "worst_case": acc(sum(seeds.values()), len(seeds)),
        "subjects": breakdown(rows, results, lambda r: r["subject"]),
        "levels": breakdown(rows, results, lambda r: r["level"]),
    }
