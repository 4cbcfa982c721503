"""V*Bench: attribute recognition and spatial relation of small objects in high-resolution images.

V*'s own evaluation (penghao-wu/vstar, vstar_bench_eval.py) ranks the options by likelihood, which a
generative harness cannot do; the generative scoring used here is the one the CV-Bench authors published for
V* (cambrian-mllm/cambrian eval/eval/vstar): the prompt is the row's `text` (question, lettered options and
the letter instruction), the answer Cambrian's letter reading of the response
(stagewise.eval.benchmarks.mcq_letter) compared with the gold letter. Metrics as in both: accuracy per
category (direct_attributes, relative_position) and over all items.
"""

from __future__ import annotations

from pathlib import Path

from stagewise.eval.benchmarks.common import Generation, acc, base_dir, image_ref, need, read_records
from stagewise.eval.benchmarks.mcq_letter import cambrian_letter

HUB_ID = "craigwu/vstar_bench"
ANNOTATIONS = "test_questions.jsonl"
MODES = ("official",)
SPLIT = None  # the repository's annotation file, not a dataset split
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule


def _hub_rows(limit: int | None) -> tuple[list[dict], Path]:
    """The annotation file and only the images of the rows wanted (the repo keeps images as plain files)."""
    from huggingface_hub import hf_hub_download, snapshot_download

    path = Path(hf_hub_download(HUB_ID, ANNOTATIONS, repo_type="dataset"))
    recs = read_records(path, limit=limit)
    folder = snapshot_download(
        HUB_ID, repo_type="dataset", allow_patterns=[ANNOTATIONS] + [str(r.get("image")) for r in recs]
    )
    return recs, Path(folder)


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    if str(source) == HUB_ID:
        recs, base = _hub_rows(limit)
        base = Path(images) if images else base
    else:
        path = Path(str(source))
        recs = read_records(path / ANNOTATIONS if path.is_dir() else path, limit=limit)
        base = base_dir(source, images)
    rows = []
    for i, r in enumerate(recs[:limit] if limit else recs):
        where = f"{source}: row {i}"
        rows.append(
            {
                "id": str(r.get("question_id", i)),
                "text": need(r, "text", where),
                "answer": need(r, "label", where).strip(),
                "category": need(r, "category", where),
                "images": [x for x in [image_ref(r.get("image"), base)] if x is not None],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return row["text"]


def extract(text: str, row: dict, mode: str = "official") -> str:
    return cambrian_letter(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"].lower()}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    cats: dict[str, list[bool]] = {}
    for row, res in zip(rows, results, strict=True):
        cats.setdefault(row["category"], []).append(bool(res["correct"]))
    return {
        "overall": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "categories": {c: acc(sum(v), len(v)) for c, v in sorted(cats.items())},
    }
