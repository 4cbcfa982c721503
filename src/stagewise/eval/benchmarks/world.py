"""The procedural world's held-out test splits, scored with the shared verifier (as in training rewards).

Metrics per family and per question kind: accuracy, format rate, trace length, truncation, and how
concentrated the model's answers are beside the gold answers' own concentration.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from stagewise.data.sources import load_rows, to_trl_rows
from stagewise.eval.benchmarks.common import Generation
from stagewise.rewards.verify import extract_answer, grade
from stagewise.world.tasks import FAMILIES

HUB_ID = None  # generated locally (`stagewise world`): always read from --data
SPLIT = "test"
MODES = ("official",)
SUBSETS: tuple[str, ...] = FAMILIES
# The shared verifier extracts on its own (last box after the think block, else tag, else "answer is").
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "raw"
PREDICTION_FIELDS: tuple[str, ...] = ()
# The world's traces follow the paper's instruction, as in training, and are short (the tiny models').
GENERATION = Generation(instruction="think_boxed", max_new_tokens=128, batch_size=64)
judge = None  # graded by the shared verifier only


def load(source: str | Path, limit: int | None = None, images=None, subset: str | None = None) -> list[dict]:
    """Rows of `<world>/<family>/test` for each family (`subset`: families joined by commas; all by default);
    `limit` is per family."""
    rows = []
    for fam in subset.split(",") if subset else FAMILIES:
        rows += from_trl_rows(
            to_trl_rows(load_rows(Path(source) / fam / SPLIT, limit=limit), instruction=None, source=fam)
        )
    return rows


def from_trl_rows(rows: list[dict]) -> list[dict]:
    """TRL rows (prompt = chat messages, instruction already in the text) -> benchmark rows."""
    out = []
    for r in rows:
        content = r["prompt"][-1]["content"]
        text = (
            content
            if isinstance(content, str)
            else " ".join(c["text"] for c in content if c["type"] == "text")
        )
        out.append(
            {
                "id": r["id"],
                "prompt": text,
                "images": r.get("images") or [],
                "answer": r["answer"],
                "answer_kind": r.get("answer_kind") or "expression",
                "family": r.get("family", ""),
                "kind": r.get("kind", ""),
            }
        )
    return out


def prompt(row: dict) -> str:
    return row["prompt"]


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    return extract_answer(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {
        "correct": grade(extracted, row["answer"], row["answer_kind"]),
        "family": row["family"],
        "kind": row["kind"],
        "answer": row["answer"],
    }


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def answer_spread(group: list[dict]) -> dict:
    """How concentrated the model's answers are, beside the gold answers' own concentration. A model that
    gives one letter to every question of a kind (`top_answer_share` 1.0 where `gold_top_share` is 0.3) has
    stopped looking: RL on a model that cannot see collapses onto a per-kind prior this way."""
    answers = Counter(i.get("extracted") for i in group)
    gold = Counter(i.get("answer") for i in group)
    top, count = answers.most_common(1)[0]
    return {
        "top_answer": top,
        "top_answer_share": count / len(group),
        "gold_top_share": gold.most_common(1)[0][1] / len(group),
    }


def summarize(items: list[dict]) -> dict:
    def stats(group: list[dict]) -> dict:
        return {
            "n": len(group),
            "accuracy": sum(i["correct"] for i in group) / len(group),
            "format_rate": sum(bool(i.get("format_ok")) for i in group) / len(group),
            "mean_response_tokens": _mean([i.get("response_tokens") for i in group]),
            "mean_think_tokens": _mean([i.get("think_tokens") for i in group]),
            "truncation_rate": sum(bool(i.get("truncated")) for i in group) / len(group),
            **answer_spread(group),
        }

    by_family: dict[str, list[dict]] = defaultdict(list)
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_family[it["family"]].append(it)
        by_kind[f"{it['family']}/{it['kind']}"].append(it)
    return {
        "overall": stats(items) if items else {},
        "families": {k: stats(v) for k, v in sorted(by_family.items())},
        "kinds": {k: stats(v) for k, v in sorted(by_kind.items())},
    }


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return summarize(results)
