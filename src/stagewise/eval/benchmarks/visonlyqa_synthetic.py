"""VisOnlyQA Eval-Synthetic: scored by the shared VisOnlyQA module (stagewise.eval.benchmarks.visonlyqa)."""

from __future__ import annotations

from pathlib import Path

from stagewise.eval.benchmarks.visonlyqa import (  # noqa: F401  (the benchmark contract, re-exported)
    GENERATION,
    HARNESS_EXTRACT,
    MODES,
    OFFICIAL_EXTRACT,
    PREDICTION_FIELDS,
    extract,
    judge,
    load_subsets,
    metrics,
    prompt,
    score,
)

HUB_ID = "ryokamoi/VisOnlyQA_Eval_Synthetic"
SPLIT = None  # each subset is a split of its own
SUBSETS = (
    "syntheticgeometry__triangle",
    "syntheticgeometry__quadrilateral",
    "syntheticgeometry__length",
    "syntheticgeometry__angle",
    "syntheticgeometry__area",
    "3d__size",
    "3d__angle",
)
"""The subsets (hub splits) the paper's evaluation runs, in its order (src/config.py)."""


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    return load_subsets(HUB_ID, SUBSETS, source, limit, images, subset)
