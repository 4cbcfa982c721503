"""The benchmarks: one plain module each (load, prompt, extract, score, metrics; optional judge), one dict.

Module contract:
    MODES                      scoring modes, the official one first (the default)
    load(source, limit, images[, subset]) -> rows with at least "id", "answer", "images" (PIL or paths)
    prompt(row) -> str         the benchmark's own prompt (an instruction may be appended by the harness)
    extract(text, row, mode)   the benchmark's answer rule, applied after the harness's pre-extraction
    score(extracted, row, mode) -> {"correct": bool, ...}
    metrics(rows, results, mode) -> dict with every breakdown the official scorer reports
    judge(text, row, ask, mode) (optional) the LLM-judge path, `ask(template, **fields) -> reply`
    HUB_ID, SPLIT              the default source on the Hub
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
    kwargs = {"limit": limit, "images": images}
    if subset:
        import inspect

        if "subset" in inspect.signature(bench.load).parameters:
            kwargs["subset"] = subset
        elif name == "world":
            kwargs["families"] = subset.split(",")
        else:
            raise ValueError(f"{name}: takes no subset")
    if source is None:
        if not hasattr(bench, "HUB_ID"):
            raise ValueError(f"{name}: needs a data source (--data)")
        source = bench.HUB_ID
    return bench.load(source, **kwargs)
