"""Score a model on the world's held-out test splits: accuracy, format rate, trace length.

A thin wrapper over the benchmark harness (benchmark `world`, whose metrics are
`stagewise.eval.benchmarks.world.summarize`): per-item results are appended to `items.jsonl` as each batch
finishes, so a killed evaluation resumes where it stopped; `summary.json` is written at the end.
"""

from __future__ import annotations

from pathlib import Path

from stagewise.eval import harness
from stagewise.eval.backends import TransformersBackend
from stagewise.eval.benchmarks.world import from_trl_rows


def evaluate(
    model,
    processor,
    test_sets: dict[str, list[dict]],
    out_dir: str | Path,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    backend=None,
) -> dict:
    """Greedy answers for every row of every test set (TRL rows, instruction in the prompt); resumable.
    `backend` (stagewise.eval.backends) instead of `model` and `processor`: e.g. vLLM."""
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
