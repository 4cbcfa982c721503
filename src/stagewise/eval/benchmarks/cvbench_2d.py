"""CV-Bench-2D: counting and spatial relation questions on ADE20K and COCO images (CV-Bench's 2D half).

Official pipeline (the CV-Bench authors' Cambrian evaluation, eval/eval/ade and coco; the dataset card's
averaging): the prompt is the row's `prompt` followed by "Answer with the option's letter from the given
choices directly."; the answer is Cambrian's letter reading of the raw response
(stagewise.eval.benchmarks.mcq_letter) compared with the gold "(X)"'s letter. CV-Bench-2D's accuracy is the
mean of the ADE20K and the COCO accuracy (not the pooled accuracy); per task and per source x task are
reported too.
"""

from __future__ import annotations

from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, acc, base_dir, image_ref, need, read_records
from stagewise.eval.benchmarks.mcq_letter import cambrian_letter

HUB_ID, CONFIG, SPLIT = "nyu-visionx/CV-Bench", "2D", "test"
MODES = ("official",)
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule
INSTRUCTION = "Answer with the option's letter from the given choices directly."
SOURCES = ("ADE20K", "COCO")


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    """The hub's 2D configuration, or a local file/folder of CV-Bench rows (3D rows are skipped)."""
    if str(source) == HUB_ID:
        recs = read_records(source, split=SPLIT, limit=limit, config=CONFIG)
    else:
        recs = read_records(source, split=SPLIT)
    base = base_dir(source, images)
    rows = []
    for i, r in enumerate(recs):
        where = f"{source}: row {i}"
        if r.get("type", "2D") != "2D":
            continue
        answer = need(r, "answer", where)
        if len(answer) != 3 or not (answer.startswith("(") and answer.endswith(")")):
            raise DataError(
                f"{where}: field 'answer' is {answer!r}, expected a letter in parentheses like (A)"
            )
        src = need(r, "source", where)
        if src not in SOURCES:
            raise DataError(f"{where}: field 'source' is {src!r}, expected ADE20K or COCO for a 2D row")
        rows.append(
            {
                "id": str(r.get("idx", i)),
                "prompt": need(r, "prompt", where),
                "answer": answer,
                "task": need(r, "task", where),
                "source": src,
                "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
            }
        )
        if limit and len(rows) >= limit:
            break
    return rows


def prompt(row: dict) -> str:
    return f"{row['prompt']}\n{INSTRUCTION}"


def extract(text: str, row: dict, mode: str = "official") -> str:
    return cambrian_letter(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"].lower()[1]}


def _table(rows: list[dict], results: list[dict], key) -> dict:
    groups: dict[str, list[bool]] = {}
    for row, res in zip(rows, results, strict=True):
        groups.setdefault(key(row), []).append(bool(res["correct"]))
    return {k: acc(sum(v), len(v)) for k, v in sorted(groups.items())}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    sources = _table(rows, results, lambda r: r["source"])
    present = [sources[s]["accuracy"] for s in SOURCES if s in sources]
    return {
        "accuracy_2d": {"accuracy": sum(present) / len(present) if present else 0.0, "total": len(results)},
        "pooled": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "sources": sources,
        "tasks": _table(rows, results, lambda r: r["task"]),
        "source_tasks": _table(rows, results, lambda r: f"{r['source']}/{r['task']}"),
    }
