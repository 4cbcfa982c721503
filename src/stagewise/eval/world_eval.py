"""Score a model on the world's held-out test splits: accuracy, format rate, trace length.

A thin wrapper over the benchmark harness (benchmark `world`): per-item results are appended to `items.jsonl`
as each batch finishes, so a killed evaluation resumes where it stopped; `summary.json` is written at the end.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from stagewise.eval.harness import think_text  # noqa: F401  (kept importable from here)

log = logging.getLogger(__name__)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def answer_spread(group: list[dict]) -> dict:
    """How concentrated the model's answers are, beside the gold answers' own concentration. A model that gives
    one letter to every question of a kind (`top_answer_share` 1.0 where `gold_top_share` is 0.3) has stopped
    looking: RL on a model that cannot see collapses onto a per-kind prior this way."""
    answers = Counter(i.get("extracted") for i in group)
    gold = Counter(i.get("answer") for i in group)
    top, count = answers.most_common(1)[0]
    return {"top_answer": top, "top_answer_share": count / len(group),
            "gold_top_share": gold.most_common(1)[0][1] / len(group)}


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


def evaluate(
    model,
    processor,
    test_sets: dict[str, list[dict]],
    out_dir: str | Path,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    backend=None,
) -> dict:
    """Greedy answers for every row of every test set (TRL rows, instruction in the prompt); resumable. `backend`
    (stagewise.eval.backends) instead of `model` and `processor`: e.g. vLLM."""
    from stagewise.eval import harness
    from stagewise.eval.backends import TransformersBackend
    from stagewise.eval.benchmarks.world import from_trl_rows

    rows = [r for trl in test_sets.values() for r in from_trl_rows(trl)]
    settings = harness.EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size)
    return harness.run(
        "world",
        rows,
        backend or TransformersBackend(model, processor, batch_size),
        out_dir,
        settings,
        metrics_name="summary.json",
    )
