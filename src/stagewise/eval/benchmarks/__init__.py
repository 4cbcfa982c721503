"""The benchmarks: one plain module each, all with the same module-level names, listed in one dict.

The contract (every module defines every name; tests/eval/test_contract.py checks it, the harness reads them
directly):
    MODES                      scoring modes, the official one first (the default)
    HUB_ID                     the default source on the Hub, or None where there is none (`--data` needed)
    SPLIT                      the split (or splits) read from HUB_ID, or None where the subsets are the
                               splits
    SUBSETS                    the names `subset` takes (comma-separated where several may be picked); () for
                               none
    OFFICIAL_EXTRACT           pre-extraction of the `official` mode: `raw` (the response as the authors' code
                               reads it) or `chain` (common.pre_extract)
    HARNESS_EXTRACT            pre-extraction of every other mode (`chain`, and the module's named modes)
    PREDICTION_FIELDS          fields an official scorer reads from the prediction file (`eval score`); () for
                               none
    GENERATION                 common.Generation: `eval run`'s default instruction, token budget and batch
                               size
    load(source, limit, images, subset) -> rows with at least "id", "answer", "images" (PIL or paths)
    prompt(row) -> str         the benchmark's own prompt (an instruction may be appended by the harness)
    extract(text, row, mode)   the benchmark's answer rule, applied after the pre-extraction
    score(extracted, row, mode) -> {"correct": bool, ...}
    metrics(rows, results, mode) -> dict with every breakdown the official scorer reports
    judge                      (text, row, ask, mode) -> {"extracted", ["correct"], ...}: the LLM-judge path
                               used when a judge is configured, `ask(template, **fields) -> reply`; None for
                               none
"""

from __future__ import annotations

from types import ModuleType

from stagewise.eval.benchmarks import (
    aokvqa,
    blink,
    chartqa,
    cvbench_2d,
    dynamath,
    hallusionbench,
    logicvista,
    mathverse,
    mathvision,
    mathvista,
    mmstar,
    pope,
    realworldqa,
    textvqa,
    visonlyqa_real,
    visonlyqa_synthetic,
    vstar,
    wemath,
    world,
)

BENCHMARKS: dict[str, ModuleType] = {
    "world": world,
    "mathvista": mathvista,
    "mathvision": mathvision,
    "mathverse": mathverse,
    "wemath": wemath,
    "logicvista": logicvista,
    "dynamath": dynamath,
    "hallusionbench": hallusionbench,
    "mmstar": mmstar,
    "pope": pope,
    "aokvqa": aokvqa,
    "realworldqa": realworldqa,
    "blink": blink,
    "visonlyqa_real": visonlyqa_real,
    "visonlyqa_synthetic": visonlyqa_synthetic,
    "cvbench_2d": cvbench_2d,
    "vstar": vstar,
    "chartqa": chartqa,
    "textvqa": textvqa,
}


def get_benchmark(name: str) -> ModuleType:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]


def load_benchmark(
    name: str,
    source: str | None = None,
    limit: int | None = None,
    images: str | None = None,
    subset: str | None = None,
) -> list[dict]:
    """Rows of a benchmark from `source` (default: its hub id); `subset` where the module takes one."""
    bench = get_benchmark(name)
    if subset and not bench.SUBSETS:
        raise ValueError(f"{name}: takes no subset")
    if source is None and bench.HUB_ID is None:
        raise ValueError(f"{name}: needs a data source (--data)")
    return bench.load(source or bench.HUB_ID, limit=limit, images=images, subset=subset or None)
