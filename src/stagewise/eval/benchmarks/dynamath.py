"""DynaMath: 501 seed questions, each in 10 generated variants; average and worst-case accuracy.

Official scorer (DynaMath/DynaMath, evaluation/opensource_json_eval.py): the model answers in JSON with a
"short answer"; floats are correct within an absolute 0.001 (a trailing π multiplies), a multiple-choice
answer must be the letter (or hold it in its first 3 characters), text answers must contain the gold answer.
Worst-case accuracy counts a seed question only if all its variants are correct. Modes: `official` (the
script's reading of the raw response: preprocess to the outer braces, JSON "short answer", else the last line
less its last character); `boxed` (the harness's boxed/answer reading taken whole, the JSON rule where there
is JSON).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from stagewise.data.prompts import load_prompt
from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import (
    Generation,
    acc,
    base_dir,
    breakdown,
    image_ref,
    need,
    overall,
    read_records,
)

HUB_ID, SPLIT = "DynaMath/DynaMath_Sample", None
VARIANTS = [f"sample_variant{i}" for i in range(1, 11)]
MODES = ("official", "boxed")
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule


def _records(source: str | Path, limit: int | None = None) -> list[tuple[str, dict]]:
    """(variant, record) pairs: hub splits sample_variant1..10, a folder of per-variant parquet files, or one
    JSON/JSONL file whose rows name their `variant`. `limit` (hub only): the first N seeds of the first
    variant and those seeds' rows of the others, streamed."""
    path = Path(source)
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise DataError(f"{path}: no parquet files (one per variant, e.g. sample_variant1-*.parquet)")
        return [(f.name.split("-")[0], r) for f in files for r in read_records(f)]
    if path.exists():
        return [(str(r.get("variant", r.get("varid", ""))), r) for r in read_records(path)]
    if not limit:
        return [(v, r) for v in VARIANTS for r in read_records(source, split=v)]
    first = read_records(source, split=VARIANTS[0], limit=limit)
    seeds = {r.get("id") for r in first}
    return [(VARIANTS[0], r) for r in first] + [
        (v, r)
        for v in VARIANTS[1:]
        for r in read_records(source, split=v, limit=len(seeds), keep=lambda r: r.get("id") in seeds)
    ]


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    base = base_dir(source, images)
    rows = []
    for i, (variant, r) in enumerate(_records(source, limit)):
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


def _preprocess(text: str) -> str:
    """The official script's `preprocess`: cut to the first "{" and the last "}", then drop every backslash;
    the text unchanged when it has no such pair."""
    if text == "":
        return text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < 0 or end - start < 1 or len(text) - start <= 1:
        return text
    return text[start : end + 1].replace("\\", "")


def short_answer(text: str) -> str | None:
    """The official script's reading of a response: its JSON "short answer" (str() of it, "None" when absent),
    else the last line of the preprocessed text without its last character; None when the JSON is not an
    object (a bare number: the official grading fails on it)."""
    description = _preprocess(text)
    try:
        found = json.loads(description, strict=False)
    except json.JSONDecodeError:
        return description.split("\n")[-1][:-1]
    return str(found.get("short answer")) if isinstance(found, dict) else None


def _float(text: str) -> float:
    if "\u03c0" in text:
        return float(text.split("\u03c0")[0]) * math.pi
    return float(text)


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if (
        mode == "boxed" and "{" not in text
    ):  # an answer the harness read out (a box's content) is taken whole;
        return (
            text.strip()
        )  # the official rule would drop its last character, as it does a JSON-less last line
    return short_answer(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    if extracted is None:
        return {"correct": False}
    answer, gold = str(extracted), row["answer"]
    try:
        if row["answer_type"] == "float":
            value = answer if answer.isdigit() else answer.split(" ")[0]
            return {"correct": abs(_float(value) - float(gold)) <= 0.001}
        if row["answer_type"] == "multiple choice":
            return {"correct": answer == gold if len(answer) == 1 else gold in answer[0:3]}
        return {"correct": gold in answer}
    except (ValueError, IndexError):  # the official script counts any error as a fail
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
