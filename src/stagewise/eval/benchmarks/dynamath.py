"""DynaMath: 501 seed questions, each in 10 generated variants; average and worst-case accuracy.

Official scorer (DynaMath/DynaMath, evaluation/opensource_json_eval.py): the model answers in JSON with a
"short answer"; floats are correct within an absolute 0.001 (a trailing π multiplies), a multiple-choice answer
must be the letter (or hold it in its first 3 characters), text answers must contain the gold answer. Worst-case
accuracy counts a seed question only if all its variants are correct.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

from stagewise.data.prompts import load_prompt
from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import acc, base_dir, breakdown, image_ref, need, overall, read_records

HUB_ID, SPLIT = "DynaMath/DynaMath_Sample", None
VARIANTS = [f"sample_variant{i}" for i in range(1, 11)]
MODES = ("official",)


def _records(source: str | Path) -> list[tuple[str, dict]]:
    """(variant, record) pairs: hub splits sample_variant1..10, a folder of per-variant parquet files, or one
    JSON/JSONL file whose rows name their `variant`."""
    path = Path(source)
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise DataError(f"{path}: no parquet files (one per variant, e.g. sample_variant1-*.parquet)")
        return [(f.name.split("-")[0], r) for f in files for r in read_records(f)]
    if path.exists():
        return [(str(r.get("variant", r.get("varid", ""))), r) for r in read_records(path)]
    return [(v, r) for v in VARIANTS for r in read_records(source, split=v)]


def load(
    source: str | Path = HUB_ID, limit: int | None = None, images: str | Path | None = None
) -> list[dict]:
    base = base_dir(source, images)
    rows = []
    for i, (variant, r) in enumerate(_records(source)):
        where = f"{source}: row {i}"
        qid = str(need(r, "id", where, (str, int)))
        if not variant:
            raise DataError(f"{where}: missing field 'variant' (which generated variant of seed {qid})")
        rows.append(
            {
                "id": f"{qid}@{variant}",
                "qid": qid,
                "question": need(r, "question", where),
                "answer": str(need(r, "ground_truth", where, (str, int, float))),
                "answer_type": need(r, "answer_type", where),
                "subject": r.get("subject"),
                "level": r.get("knowledge_level"),
                "images": [
                    x for x in [image_ref(r.get("decoded_image") or r.get("image"), base)] if x is not None
                ],
            }
        )
    if limit:  # whole seeds, so worst-case accuracy stays meaningful
        keep = list(dict.fromkeys(r["qid"] for r in rows))[:limit]
        rows = [r for r in rows if r["qid"] in set(keep)]
    return rows


def prompt(row: dict) -> str:
    text = "## Question\n" + row["question"]
    if row["answer_type"] == "float":
        text += "Please answer in a floating-point number."
    return text + "\n" + load_prompt("dynamath")


def short_answer(text: str) -> str:
    """The official script's reading of a response: its JSON "short answer", else the last line without its last
    character; a one-line answer (e.g. the content of a box) is taken as it is."""
    found = re.search(r"\{.*\}", text, flags=re.S)
    if found:
        try:
            return str(json.loads(found.group(0).replace("\\", ""), strict=False).get("short answer"))
        except (json.JSONDecodeError, AttributeError):
            pass
    lines = text.split("\n")
    return lines[-1][:-1] if len(lines) > 1 else text


def _float(text: str) -> float:
    if "\u03c0" in text:
        return float(text.split("\u03c0")[0]) * math.pi
    return float(text)


def extract(text: str, row: dict, mode: str = "official") -> str:
    return short_answer(text.strip())


def score(extracted, row: dict, mode: str = "official") -> dict:
    answer, gold = "" if extracted is None else str(extracted), row["answer"]
    try:
        if row["answer_type"] == "float":
            value = answer if answer.isdigit() else answer.split(" ")[0]
            return {"correct": abs(_float(value) - float(gold)) <= 0.001}
        if row["answer_type"] == "multiple choice":
            return {"correct": answer == gold if len(answer) == 1 else gold in answer[0:3]}
        return {"correct": gold in answer}
    except ValueError:
        return {"correct": False}


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
