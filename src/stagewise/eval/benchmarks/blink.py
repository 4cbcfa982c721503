"""BLINK (val): 14 multi-image perception tasks, multiple choice; accuracy per task and their plain average.

Official pipeline (zeyofu/BLINK_Benchmark, eval/test_benchmark.py `analyze_answer`, eval/evaluate.py): the
prompt is the dataset's `prompt` (with a disclaimer before it for Forensic_Detection, Jigsaw and Art_Style),
images image_1..image_4 in order. A response that is exactly a letter A-E, or "(A)".."(E)", is that choice;
else the choices "(A)".. found among its blank-separated words, in the whole response and in its last
paragraph: one in either decides (the last paragraph first); otherwise the official code asks GPT-3.5 to match
the response to an option. Here that judge runs with `--judge-url`; without one such a response has no answer
(the rule-based path). The score is exact match with the gold "(X)"; the headline is the mean of the 14 task
accuracies (evaluate.py), not the pooled accuracy.
"""

from __future__ import annotations

import re
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, acc, base_dir, image_ref, need, read_records

HUB_ID, SPLIT = "BLINK-Benchmark/BLINK", "val"
MODES = ("official",)
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
TASKS = (
    "Art_Style",
    "Counting",
    "Forensic_Detection",
    "Functional_Correspondence",
    "IQ_Test",
    "Jigsaw",
    "Multi-view_Reasoning",
    "Object_Localization",
    "Relative_Depth",
    "Relative_Reflectance",
    "Semantic_Correspondence",
    "Spatial_Relation",
    "Visual_Correspondence",
    "Visual_Similarity",
)
SUBSETS = TASKS
DISCLAIMER_TASKS = ("Forensic_Detection", "Jigsaw", "Art_Style")
DISCLAIMER = (
    "Disclaimer: This is not to make unfair assumptions about the people in the image and you just need to "
    "give your assessment on this question. You don't need to identify the real people. You just need to "
    "analyze based on the information I gave you.\n\n"
)
CHOICES = ("(A)", "(B)", "(C)", "(D)", "(E)")
JUDGE_PROMPT = "judge_blink"


def task_of(idx: str, record: dict) -> str | None:
    """The task as evaluate.py reads it from the id ("val_Art_Style_1" -> "Art_Style"), else `sub_task`."""
    m = re.fullmatch(r"(?:val|test)_(.+)_\d+", idx)
    if m:
        return m.group(1)
    sub = record.get("sub_task")
    return sub.replace(" ", "_") if isinstance(sub, str) else None


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    """All 14 tasks (the hub id: one configuration each; `limit` per task), or the tasks named in `subset`
    (comma-separated). A local file or folder holds the rows of any tasks, each with its `idx`."""
    wanted = [t.strip() for t in subset.split(",")] if subset else list(TASKS)
    unknown = [t for t in wanted if t not in TASKS]
    if unknown:
        raise ValueError(f"blink: unknown task(s) {', '.join(unknown)} (tasks: {', '.join(TASKS)})")
    if str(source) == HUB_ID:
        recs = [r for t in wanted for r in read_records(source, split=SPLIT, limit=limit, config=t)]
    else:
        recs = read_records(source, split=SPLIT)
    base = base_dir(source, images)
    rows, per_task = [], dict.fromkeys(wanted, 0)
    for i, r in enumerate(recs):
        where = f"{source}: row {i}"
        idx = str(need(r, "idx", where, (str, int)))
        task = task_of(idx, r)
        if task not in per_task or (limit and per_task[task] >= limit):
            continue
        answer = need(r, "answer", where)
        if answer not in CHOICES:
            raise DataError(
                f"{where}: field 'answer' is {answer!r}, expected one of {', '.join(CHOICES)} "
                "(the test split's answers are hidden: use val)"
            )
        per_task[task] += 1
        rows.append(
            {
                "id": idx,
                "task": task,
                "prompt": need(r, "prompt", where),
                "question": r.get("question", ""),
                "choices": list(need(r, "choices", where, (list,))),
                "answer": answer,
                "images": [
                    x
                    for k in ("image_1", "image_2", "image_3", "image_4")
                    if (x := image_ref(r.get(k), base)) is not None
                ],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return (DISCLAIMER if row["task"] in DISCLAIMER_TASKS else "") + row["prompt"]


def rule(text: str, n_choices: int) -> str | None:
    """The official rule-based reading; None where the official code would ask its judge."""
    valid = set(CHOICES[:n_choices])
    if text in ("A", "B", "C", "D", "E"):  # any of the five letters, as in the official code
        return f"({text})"
    if text in CHOICES:
        return text
    found = valid & set(text.split())
    found_last = valid & set(text.split("\n\n")[-1].split())
    if (len(found) != 1 and len(found_last) != 1) or not found:
        return None
    return next(iter(found_last if len(found_last) == 1 else found))


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    return rule(text, len(row["choices"]))


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    found = rule(text, len(row["choices"]))
    if found is not None:
        return {"extracted": found}
    options = "\n".join(f"{c} {o}" for c, o in zip(CHOICES, row["choices"], strict=False))
    reply = ask(
        JUDGE_PROMPT,
        question=f"{row['question']}\nSelect from the following choices",
        options=options,
        response=text,
    )
    return {"extracted": reply, "judge_reply": reply}  # compared as the official code does, unstripped


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"]}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    tasks: dict[str, list[bool]] = {}
    for row, res in zip(rows, results, strict=True):
        tasks.setdefault(row["task"], []).append(bool(res["correct"]))
    per_task = {t: acc(sum(v), len(v)) for t, v in sorted(tasks.items())}
    mean = sum(t["accuracy"] for t in per_task.values()) / len(per_task) if per_task else 0.0
    return {
        "average": {"accuracy": mean, "tasks": len(per_task), "total": len(results)},
        "pooled": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "tasks": per_task,
    }
