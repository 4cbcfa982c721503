"""MathVerse (testmini): five problem versions, the vision-intensive subset, and the judge-based score.

The official score is two GPT-4 steps: extract the answer, then judge it against the gold answer (0/1); the
only rule in the official code is score_answer_s2.py's `--quick_match`: the extraction equals the answer
string exactly. Modes: `official` (that quick match, on the raw response without a judge, on an extraction
given with `--field`); `boxed` (the harness's boxed/answer reading graded by the shared verifier: a choice
letter, or math equivalence; the stand-in for the GPT-4 steps when no judge is configured). With a judge the
second step runs on the judge model, on the `boxed` reading. `subset` picks versions
("Vision Intensive", or several joined by commas; the paper reports Vision Intensive and Vision Only).
"""

from __future__ import annotations

import json
from pathlib import Path

from stagewise.eval.benchmarks.common import (
    Generation,
    base_dir,
    breakdown,
    image_ref,
    need,
    overall,
    read_records,
)
from stagewise.rewards.verify import extract_choice, grade, infer_kind

HUB_ID, SPLIT = "AI4Math/MathVerse", "testmini"
MODES = ("official", "boxed")
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
SUBSETS = VERSIONS
JUDGE_PROMPT = "judge_mathverse_score"


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    versions = [v.strip() for v in subset.split(",")] if subset else list(VERSIONS)
    # --limit: only the first N rows of the versions asked for are read (streamed from the hub)
    recs = read_records(
        source,
        split=SPLIT,
        limit=limit,
        keep=(lambda r: r.get("problem_version") in versions) if subset and limit else None,
    )
    base = base_dir(source, images)
    rows = []
    for i, r in enumerate(recs):
        where = f"{source}: row {i}"
        if need(r, "problem_version", where) not in versions:
            continue
        meta = r.get("metadata") or {}
        meta = json.loads(meta) if isinstance(meta, str) else meta
        rows.append(
            {
                "id": str(need(r, "sample_index", where, (str, int))),
                "prompt": r.get("query_cot") or r["question"],
                "question": r.get("question_for_eval") or r.get("question", ""),
                "answer": str(need(r, "answer", where)),
                "question_type": need(r, "question_type", where),
                "version": r["problem_version"],
                "subject": meta.get("subject"),
                "subfield": meta.get("subfield"),
                "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
            }
        )
        if limit and len(rows) >= limit:
            break
    return rows


def prompt(row: dict) -> str:
    return row["prompt"]


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if mode == "official":  # the official extraction is GPT-4's; no rule reads the response
        return text
    if row["question_type"] == "multi-choice":
        return extract_choice(text, 8) or text
    return text


def score(extracted, row: dict, mode: str = "official") -> dict:
    if extracted is None:
        return {"correct": False}
    if mode == "official":
        return {"correct": extracted == row["answer"]}
    if row["question_type"] == "multi-choice":
        return {"correct": extract_choice(str(extracted), 8) == row["answer"].strip().strip("()").upper()[:1]}
    return {"correct": grade(str(extracted), row["answer"], infer_kind(row["answer"]))}


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    extracted = extract(text, row, "boxed")
    reply = ask(JUDGE_PROMPT, question=row["question"], answer=row["answer"], extracted=extracted or "")
    return {
        "extracted": extracted,
        "correct": reply.strip().split()[-1].strip(".") == "1" if reply.strip() else False,
        "judge_reply": reply,
    }


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {
        "overall": overall(results),
        "versions": breakdown(rows, results, lambda r: r["version"]),
        "subjects": breakdown(rows, results, lambda r: r["subject"]),
        "subfields": breakdown(rows, results, lambda r: r["subfield"]),
    }
