"""ChartQA (test): relaxed accuracy, 5% tolerance on numbers and exact match otherwise, per human/augmented
split.

Official rule (pix2struct/metrics.py `relaxed_correctness`, the scorer of the ChartQA paper's section 5.1 that
lmms-eval and VLMEvalKit reuse): the raw response and each gold label are read as floats by Python's `float`
("12%" is 0.12); when both are numbers and the gold is non-zero the relative change must be at most 5%, else
the two strings must be equal ignoring case. No stripping, no "the answer is": a sentence is wrong. A row
counts as correct if it matches any of its labels. The ChartQA authors publish no prompt for generative
models; the prompt is the one VLMEvalKit and LLaVA use ("Answer the question using a single word or phrase.").
"""

from __future__ import annotations

from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, acc, base_dir, image_ref, numbered, read_records

HUB_ID, SPLIT = "HuggingFaceM4/ChartQA", "test"
MODES = ("official",)
SUBSETS: tuple[str, ...] = ("human", "augmented")
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule
MAX_RELATIVE_CHANGE = 0.05
INSTRUCTION = "Answer the question using a single word or phrase."
SPLITS = {
    0: "human",
    1: "augmented",
    "human_test": "human",
    "augmented_test": "augmented",
    "human": "human",
    "augmented": "augmented",
}
"""The human/augmented marker of each layout: HuggingFaceM4 (`human_or_machine` 0/1), lmms-lab (`type`)."""


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    """Rows of the HuggingFaceM4 layout (`query`, `label` list, `human_or_machine`), the lmms-lab layout
    (`question`, `answer`, `type`) or the authors' JSON (`imgname`, `query`, `label`); `subset`: human or
    augmented."""
    recs = read_records(source, split=SPLIT, limit=None if subset else limit)
    base = base_dir(source, images)
    rows = []
    for i, r, where in numbered(recs, None, source):
        question = r.get("query", r.get("question"))
        if not isinstance(question, str):
            raise DataError(f"{where}: missing field 'query' (or 'question')")
        labels = r.get("label", r.get("answer"))
        labels = [labels] if isinstance(labels, str | int | float) else labels
        if not labels or not isinstance(labels, list):
            raise DataError(f"{where}: missing field 'label' (or 'answer')")
        marker = r.get("human_or_machine", r.get("type", r.get("split")))
        split = SPLITS.get(marker) if marker is not None else _split_of(source)
        if split is None:
            raise DataError(
                f"{where}: field 'human_or_machine'/'type' is {marker!r}, expected human or augmented"
            )
        if subset and split != subset:
            continue
        image = r.get("image", r.get("imgname"))
        if (
            isinstance(image, str)
            and r.get("imgname")
            and base is not None
            and (base / "png" / image).exists()
        ):
            image = str(base / "png" / image)  # the authors' layout: test/png/<imgname>
        rows.append(
            {
                "id": str(r.get("id", i)),
                "question": question,
                "answers": [str(x) for x in labels],
                "answer": str(labels[0]),
                "split": split,
                "images": [x for x in [image_ref(image, base)] if x is not None],
            }
        )
        if limit and len(rows) >= limit:
            break
    return rows


def _split_of(source: str | Path) -> str | None:
    """The authors' files name their split: test_human.json, test_augmented.json."""
    name = Path(str(source)).name
    return "human" if "human" in name else "augmented" if "augmented" in name else None


def prompt(row: dict) -> str:
    return f"{row['question']}\n{INSTRUCTION}"


def extract(text: str, row: dict, mode: str = "official") -> str:
    return text


def _to_float(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(target: str, prediction: str) -> bool:
    pred, gold = _to_float(prediction), _to_float(target)
    if pred is not None and gold:  # a zero gold falls back to string match, as in the official code
        return abs(pred - gold) / abs(gold) <= MAX_RELATIVE_CHANGE
    return prediction.lower() == target.lower()


def score(extracted, row: dict, mode: str = "official") -> dict:
    pred = "" if extracted is None else str(extracted)
    return {"correct": any(relaxed_correct(t, pred) for t in row["answers"])}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    out = {"relaxed_accuracy": acc(sum(bool(r["correct"]) for r in results), len(results))}
    for split in ("human", "augmented"):
        picked = [res for row, res in zip(rows, results, strict=True) if row["split"] == split]
        if picked:
            out[split] = acc(sum(bool(r["correct"]) for r in picked), len(picked))
    return out
