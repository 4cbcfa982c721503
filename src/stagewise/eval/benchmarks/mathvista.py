"""MathVista (testmini): the official `query` prompt, answer rules and normalization, every breakdown.

Official pipeline (lupantech/MathVista, evaluation/): an extraction step (a few rules, then GPT-4 reads the
response) and a scoring step that normalizes the extraction (a choice letter or the nearest choice by edit
distance; integers as int; floats rounded to the problem's precision; lists as strings) and compares it with
the answer string. Without a judge the extraction is the rules applied to the pre-extracted answer.
Modes: `official`; `vlmevalkit` (no nearest-choice and no rounding: a letter or the exact choice text, numbers
compared as parsed).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import (
    Generation,
    acc,
    base_dir,
    breakdown,
    image_ref,
    letters,
    need,
    numbered,
    read_records,
)

log = logging.getLogger(__name__)

HUB_ID, SPLIT = "AI4Math/MathVista", "testmini"
MODES = ("official", "vlmevalkit")
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
BREAKDOWNS = (
    "question_type",
    "answer_type",
    "language",
    "source",
    "category",
    "task",
    "context",
    "grade",
    "skills",
)
JUDGE_PROMPT = "judge_mathvista_extract"
# The official scorer reads these problem fields from the output file itself (its metadata can be newer or
# older than the dataset's), so `stagewise eval score` takes them from a prediction file that has them.
PREDICTION_FIELDS = ("choices", "question_type", "answer_type", "precision", "metadata")
GENERATION = Generation()


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    recs = read_records(source, split=SPLIT, limit=limit)  # --limit reads only what it scores
    queries: dict = {}
    qfile = Path(source).parent / "query.json" if Path(source).is_file() else None
    if qfile and qfile.exists():  # the repo keeps the official queries beside testmini.json
        queries = json.loads(qfile.read_text())
    base = base_dir(source, images)
    rows = []
    for _, r, where in numbered(recs, limit, source):
        pid = str(r.get("pid") or r.get("_key") or need(r, "pid", where))
        meta = r.get("metadata") or {}
        if isinstance(meta, str):
            meta = json.loads(meta)
        query = r.get("query") or queries.get(pid)
        if not query:
            raise DataError(f"{where} (pid {pid}): no 'query' field and no query.json beside the file")
        rows.append(
            {
                "id": pid,
                "prompt": query,
                "answer": str(need(r, "answer", where)),
                "images": [
                    x for x in [image_ref(r.get("decoded_image") or r.get("image"), base)] if x is not None
                ],
                "question": r.get("question", ""),
                "choices": r.get("choices"),
                "question_type": need(r, "question_type", where),
                "answer_type": need(r, "answer_type", where),
                "precision": r.get("precision"),
                "unit": r.get("unit"),
                "metadata": meta,
            }
        )
    return rows


def prompt(row: dict) -> str:
    return row["prompt"]


# ------------------------------------------------------------------------------------------ extraction
def quick_rules(text: str, row: dict) -> str | None:
    """The official extraction's rules before it asks the LLM; None when they do not decide."""
    if text == "":
        return ""
    if row["question_type"] == "multi_choice" and row["choices"] and text in row["choices"]:
        return text
    if row["answer_type"] == "integer":
        try:
            return str(int(text))
        except ValueError:
            pass
    if row["answer_type"] == "float":
        try:
            return str(float(text))
        except ValueError:
            pass
    found = re.search(r'The answer is "(.*)"\.', text)
    return found.group(1) if found else None


def extract(text: str, row: dict, mode: str = "official") -> str:
    found = quick_rules(text, row)
    return text if found is None else found


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    """Rules first; the LLM reads the response only when they do not decide (as the official script)."""
    found = quick_rules(text, row)
    if found is not None:
        return {"extracted": found}
    return {"extracted": ask(JUDGE_PROMPT, query=row["prompt"], response=text).strip()}


# --------------------------------------------------------------------------------------------- scoring
def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def normalize(extraction, row: dict, mode: str = "official") -> str | None:
    """The official normalize_extracted_answer; `vlmevalkit` skips nearest-choice and rounding."""
    choices, answer_type = row["choices"], row["answer_type"]
    if row["question_type"] == "multi_choice":
        # The official code: a string is stripped, anything else (None included) becomes str(...), "None".
        text = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letter = re.findall(r"\(([a-zA-Z])\)", text)
        if letter:
            text = letter[0].upper()
        options = letters(len(choices))
        if text in options:
            return choices[options.index(text)]
        if mode == "vlmevalkit":
            return text if text in choices else None
        distances = [edit_distance(text, c) for c in choices]
        return choices[distances.index(min(distances))]
    try:
        if answer_type == "integer":
            return str(int(extraction)) if mode == "vlmevalkit" else str(int(float(extraction)))
        if answer_type == "float":
            if mode == "vlmevalkit":
                return row["answer"] if float(extraction) == float(row["answer"]) else str(float(extraction))
            return str(round(float(extraction), int(row["precision"])))
        if answer_type == "list":
            return str(extraction)
    except (TypeError, ValueError):
        return None
    return extraction


def score(extracted, row: dict, mode: str = "official") -> dict:
    prediction = normalize(extracted, row, mode)
    return {"correct": prediction == row["answer"], "prediction": prediction}


def _field(row: dict, key: str):
    return row[key] if key in ("question_type", "answer_type") else row["metadata"].get(key)


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    """The official scores file: `average` plus accuracy per value of every metadata key (percent)."""
    out = {"average": acc(sum(bool(r["correct"]) for r in results), len(results))}
    for key in BREAKDOWNS:
        out[key] = breakdown(
            rows, results, lambda row, k=key: (_field(row, k) or []) if k == "skills" else _field(row, k)
        )
    return out
