"""HallusionBench: yes/no questions on original and edited figures; aAcc, fAcc, qAcc (official grouping).

Official scorer (tianyi-lab/HallusionBench, utils.py): GPT-4 judges each answer correct (1), incorrect (0) or
unclear (2) against the reference; "unclear" counts as correct for visual-supplement questions without a
figure. aAcc: all questions. fAcc: a figure counts if every question on it is correct. qAcc: a question
counts if it is answered correctly on every figure variant (plus its easy/hard split). Without a judge the
answer's yes/no is read by rule (first "yes"/"no" word; neither is unclear) and compared with the gold answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import (
    Generation,
    acc,
    base_dir,
    image_ref,
    need,
    numbered,
    read_records,
)

HUB_ID, SPLIT = "lmms-lab/HallusionBench", ("image", "non_image")
MODES = ("official",)
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
JUDGE_PROMPT = "judge_hallusionbench"
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    if Path(source).exists():
        recs = read_records(source, limit=limit)
    else:  # the Hub release splits the 951 questions with a figure from the 178 without
        recs = read_records(source, split="image", limit=limit)
        if not limit or len(recs) < limit:  # --limit N: the second split only for what the first lacks
            recs += read_records(source, split="non_image", limit=limit and limit - len(recs))
    base = base_dir(source, images)
    rows = []
    for _, r, where in numbered(recs, limit, source):
        key = [
            str(need(r, k, where, (str, int)))
            for k in ("category", "subcategory", "set_id", "figure_id", "question_id")
        ]
        gold = str(need(r, "gt_answer", where, (str, int)))
        if gold not in ("0", "1"):
            raise DataError(f"{where}: field 'gt_answer' is {gold!r}, expected '0' (no) or '1' (yes)")
        img = r.get("image") or r.get("filename")
        if str(r.get("visual_input", "1")) == "0":
            img = None
        elif img is None:  # the repo's layout: <category>/<subcategory>/<set>_<figure>.png
            img = f"{key[0]}/{key[1]}/{key[2]}_{key[3]}.png"
        rows.append(
            {
                "id": "_".join(key),
                "category": key[0],
                "subcategory": key[1],
                "set_id": key[2],
                "figure_id": key[3],
                "question_id": key[4],
                "question": need(r, "question", where),
                "answer": gold,
                "details": r.get("gt_answer_details", ""),
                "visual_input": str(r.get("visual_input", "1")),
                "images": [x for x in [image_ref(img, base)] if x is not None],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return row["question"]


def extract(text: str, row: dict, mode: str = "official") -> str:
    """ "1" yes, "0" no, "2" neither."""
    found = _YES_NO.search(text)
    return "2" if not found else ("1" if found.group(1).lower() == "yes" else "0")


def _correct(verdict: str, row: dict) -> bool:
    if row["category"] == "VS" and row["figure_id"] == "0":  # no figure: "I don't know" is fine
        return verdict in ("1", "2")
    return verdict == "1"


def score(extracted, row: dict, mode: str = "official") -> dict:
    verdict = "2" if extracted == "2" else ("1" if extracted == row["answer"] else "0")
    return {"correct": _correct(verdict, row), "verdict": verdict}


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    reply = ask(JUDGE_PROMPT, question=row["question"], reference=row["details"], prediction=text).lower()
    verdict = "0" if "incorrect" in reply else "1" if "correct" in reply else "2"
    return {
        "extracted": extract(text, row),
        "verdict": verdict,
        "correct": _correct(verdict, row),
        "judge_reply": reply,
    }


def _all_correct(rows, results, key, skip=lambda r: False) -> dict:
    groups: dict[str, list[bool]] = defaultdict(list)
    for row, res in zip(rows, results, strict=True):
        if not skip(row):
            groups[key(row)].append(bool(res["correct"]))
    return acc(sum(all(v) for v in groups.values()), len(groups))


def _scores(rows: list[dict], results: list[dict]) -> dict:
    def question(r):
        return f"{r['category']}_{r['subcategory']}_{r['set_id']}_{r['question_id']}"

    def figure(r):
        return f"{r['category']}_{r['subcategory']}_{r['set_id']}_{r['figure_id']}"

    return {
        "aAcc": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "fAcc": _all_correct(
            rows, results, figure, skip=lambda r: r["category"] == "VS" and r["figure_id"] == "0"
        ),
        "qAcc": _all_correct(rows, results, question),
        # official get_eval_pair_easy/hard: split by visual_input (2 = an edited figure), not by figure_id
        "qAcc_easy": _all_correct(rows, results, question, skip=lambda r: r["visual_input"] == "2"),
        "qAcc_hard": _all_correct(rows, results, question, skip=lambda r: r["visual_input"] != "2"),
    }


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    out = _scores(rows, results)
    # VLMEvalKit's one HallusionBench number ("Overall Acc"): the mean of the three
    out["average"] = {"accuracy": sum(out[k]["accuracy"] for k in ("aAcc", "fAcc", "qAcc")) / 3}
    for cat in sorted({r["category"] for r in rows}):
        sub = [(row, res) for row, res in zip(rows, results, strict=True) if row["category"] == cat]
        out[cat] = _scores([s[0] for s in sub], [s[1] for s in sub])
    return out
