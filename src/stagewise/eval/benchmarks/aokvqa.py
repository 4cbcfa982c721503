"""A-OKVQA, multiple-choice setting.

Official scorer (allenai/aokvqa, evaluation/eval_predictions.py `eval_aokvqa`, multiple_choice=True): the
prediction must be the correct choice's text, exactly (case, blanks and punctuation count). Modes: `official`
(that, on the raw response; the prompt asks for the choice's text); `letter` (the choice's letter read by the
shared verifier, or the choice's text up to case and a trailing period: how letter-prompted harnesses score
it).
"""

from __future__ import annotations

from pathlib import Path

from stagewise.eval.benchmarks.common import (
    Generation,
    base_dir,
    image_ref,
    letters,
    need,
    numbered,
    options_block,
    overall,
    read_records,
)
from stagewise.rewards.verify import extract_choice

HUB_ID, SPLIT = "HuggingFaceM4/A-OKVQA", "validation"
MODES = ("official", "letter")
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
        choices = list(need(r, "choices", where, (list,)))
        idx = need(r, "correct_choice_idx", where, (int,))
        rows.append(
            {
                "id": str(r.get("question_id", i)),
                "question": need(r, "question", where),
                "choices": choices,
                "answer": letters(len(choices))[idx],
                "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return (
        f"{row['question']}\n{options_block(row['choices'])}\n"
        "Answer with the text of the correct option, exactly as written above, and nothing else."
    )


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if mode == "official":
        return text
    lowered = [c.lower() for c in row["choices"]]
    if text.strip().lower().rstrip(".") in lowered:  # the choice's text instead of its letter
        return letters(len(lowered))[lowered.index(text.strip().lower().rstrip("."))]
    return extract_choice(text, len(row["choices"]))


def score(extracted, row: dict, mode: str = "official") -> dict:
    if mode == "official":
        return {"correct": extracted == row["choices"][letters(len(row["choices"])).index(row["answer"])]}
    return {"correct": extracted == row["answer"]}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {"overall": overall(results)}
