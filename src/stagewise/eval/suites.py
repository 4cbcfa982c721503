"""Named suites, the names other harnesses use, and the paper-layout suite table.

`--bench a,b,c` takes benchmark names, suite names (`paper-main`, `paper-extended`) and aliases (VLMEvalKit's
`MathVista_MINI`, lmms-eval's `mathvista_testmini`, ...); each resolves to entries (label, benchmark, subset),
the label naming the entry's output folder and its column in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagewise.eval.benchmarks import BENCHMARKS


@dataclass(frozen=True)
class Entry:
    """One benchmark run of a suite."""

    label: str
    """Output folder and table column (a benchmark name, or name-subset for a subset run)."""
    name: str
    """Benchmark module name (stagewise.eval.benchmarks.BENCHMARKS)."""
    subset: str | None = None
    """Subset passed to the loader (MathVerse's versions)."""


MATHVERSE_VI = Entry("mathverse-vision_intensive", "mathverse", "Vision Intensive")
MATHVERSE_VO = Entry("mathverse-vision_only", "mathverse", "Vision Only")
VISUAL_MATH = (
    Entry("mathvista", "mathvista"),
    Entry("mathvision", "mathvision"),
    MATHVERSE_VI,
    Entry("wemath", "wemath"),
)
PERCEPTION = (
    Entry("aokvqa", "aokvqa"),
    Entry("realworldqa", "realworldqa"),
    Entry("mmstar", "mmstar"),
    Entry("pope", "pope"),
)
EXTENDED = (
    MATHVERSE_VO,
    Entry("dynamath", "dynamath"),
    Entry("hallusionbench", "hallusionbench"),
    Entry("blink", "blink"),
    Entry("visonlyqa_synthetic", "visonlyqa_synthetic"),
    Entry("visonlyqa_real", "visonlyqa_real"),
    Entry("cvbench_2d", "cvbench_2d"),
    Entry("vstar", "vstar"),
    Entry("chartqa", "chartqa"),
    Entry("textvqa", "textvqa"),
)
SUITES: dict[str, tuple[Entry, ...]] = {
    "paper-main": VISUAL_MATH + PERCEPTION,
    "paper-extended": EXTENDED,
}
"""The paper's 8 main benchmarks (Visual-Math, Perception) and its extended suite of 10 (appendix table 9)."""

ALIASES: dict[str, Entry] = {
    # VLMEvalKit dataset names
    "MathVista_MINI": Entry("mathvista", "mathvista"),
    "MathVision_MINI": Entry("mathvision", "mathvision"),
    "MathVerse_MINI_Vision_Intensive": MATHVERSE_VI,
    "MathVerse_MINI_Vision_Only": MATHVERSE_VO,
    "WeMath": Entry("wemath", "wemath"),
    "LogicVista": Entry("logicvista", "logicvista"),
    "DynaMath": Entry("dynamath", "dynamath"),
    "HallusionBench": Entry("hallusionbench", "hallusionbench"),
    "MMStar": Entry("mmstar", "mmstar"),
    "POPE": Entry("pope", "pope"),
    "A-OKVQA": Entry("aokvqa", "aokvqa"),
    "RealWorldQA": Entry("realworldqa", "realworldqa"),
    "BLINK": Entry("blink", "blink"),
    "CV-Bench-2D": Entry("cvbench_2d", "cvbench_2d"),
    "VStarBench": Entry("vstar", "vstar"),
    "ChartQA_TEST": Entry("chartqa", "chartqa"),
    "TextVQA_VAL": Entry("textvqa", "textvqa"),
    # lmms-eval task names
    "mathvista_testmini": Entry("mathvista", "mathvista"),
    "mathvision_testmini": Entry("mathvision", "mathvision"),
    "mathverse_testmini_vision_intensive": MATHVERSE_VI,
    "mathverse_testmini_vision_only": MATHVERSE_VO,
    "hallusion_bench_image": Entry("hallusionbench", "hallusionbench"),
    "cv_bench_2d": Entry("cvbench_2d", "cvbench_2d"),
    "vstar_bench": Entry("vstar", "vstar"),
    "textvqa_val": Entry("textvqa", "textvqa"),
    # the paper's names
    "MathVerse-VI": MATHVERSE_VI,
    "MathVerse-VO": MATHVERSE_VO,
    "VisOnlyQA-Real": Entry("visonlyqa_real", "visonlyqa_real"),
    "VisOnlyQA-Synthetic": Entry("visonlyqa_synthetic", "visonlyqa_synthetic"),
    "V*Bench": Entry("vstar", "vstar"),
}
"""Names other harnesses and the paper use. VLMEvalKit's `VisOnlyQA-VLMEvalKit` is a different dataset (no
chemistry__shape_multi, other prompts) and is deliberately not an alias."""

HEADLINES: dict[str, tuple[str, str]] = {
    "mathvista": ("average", "accuracy"),
    "mathvision": ("overall", "accuracy"),
    "mathverse": ("overall", "accuracy"),
    "wemath": ("score_strict", ""),
    "logicvista": ("overall", "accuracy"),
    "dynamath": ("average", "accuracy"),
    "hallusionbench": ("average", "accuracy"),
    "mmstar": ("overall", "accuracy"),
    "pope": ("overall", "f1"),
    "aokvqa": ("overall", "accuracy"),
    "realworldqa": ("overall", "accuracy"),
    "blink": ("pooled", "accuracy"),
    "visonlyqa_real": ("overall", "accuracy"),
    "visonlyqa_synthetic": ("overall", "accuracy"),
    "cvbench_2d": ("accuracy_2d", "accuracy"),
    "vstar": ("overall", "accuracy"),
    "chartqa": ("relaxed_accuracy", "accuracy"),
    "textvqa": ("vqa_accuracy", "accuracy"),
}
"""The one number of each benchmark in the suite table: the key and sub-key of its metrics.json.

The paper's text does not say which number of a benchmark its tables report; its evaluation code does say how
it scores: VLMEvalKit, with these benchmarks under their VLMEvalKit names (evaluation/run_eval.sh, the
"extended" group is appendix table 9). So each headline is the number VLMEvalKit reports as that dataset's
primary metric (its `report_primary_metric`), on the official scorer's items: HallusionBench the mean of aAcc,
fAcc and qAcc (VLMEvalKit's "Overall Acc"; the three are in metrics.json too), DynaMath the average over all
variants (not the worst case, which metrics.json also holds), POPE the F1 of "yes" (VLMEvalKit's "Overall";
accuracy beside it), BLINK and V*Bench the accuracy pooled over all questions (multiple-choice "Overall";
BLINK's task mean, the official repository's, is in metrics.json), CV-Bench-2D the mean of the ADE20K and COCO
accuracies (VLMEvalKit and the authors average per source), ChartQA relaxed accuracy over human and augmented
questions together, TextVQA the VQA accuracy, WeMath the strict score. VisOnlyQA-Real and -Synthetic are no
VLMEvalKit datasets (VLMEvalKit has only `VisOnlyQA-VLMEvalKit`, which merges both and drops the
multiple-answer subset): their headline is the accuracy over all rows, the number the VisOnlyQA authors
report."""


def known_names() -> list[str]:
    return list(BENCHMARKS) + list(SUITES) + list(ALIASES)


def resolve(spec: str | list[str]) -> list[Entry]:
    """Entries of a comma-separated (or listed) mix of benchmark names, suite names and aliases, in order,
    each label once. An unknown name stops with the list of known ones."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Entry] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in SUITES:
            entries = list(SUITES[name])
        elif name in ALIASES:
            entries = [ALIASES[name]]
        elif name in BENCHMARKS:
            entries = [Entry(name, name)]
        else:
            raise ValueError(f"unknown benchmark or suite {name!r}; known: {', '.join(known_names())}")
        out += [e for e in entries if e.label not in {o.label for o in out}]
    return out


def headline(name: str, metrics: dict) -> float | None:
    """The benchmark's one number (percent) in a metrics dict; None if the metrics lack it."""
    key, sub = HEADLINES.get(name, ("overall", "accuracy"))
    value = metrics.get(key)
    if isinstance(value, dict):
        value = value.get(sub)
    return float(value) if isinstance(value, int | float) else None


def _mean(values: list[float | None]) -> float | None:
    return sum(values) / len(values) if values and all(v is not None for v in values) else None


def suite_scores(scores: dict[str, float | None]) -> dict[str, float | None]:
    """The paper's averages over label -> headline: Visual-Math AVG, Perception AVG, Overall (the 8 main) and
    the extended AVG (the 10); an average is None unless every one of its benchmarks was scored."""

    def pick(entries):
        return [scores.get(e.label) for e in entries]

    return {
        "Visual-Math AVG": _mean(pick(VISUAL_MATH)),
        "Perception AVG": _mean(pick(PERCEPTION)),
        "Overall": _mean(pick(VISUAL_MATH + PERCEPTION)),
        "Extended AVG": _mean(pick(EXTENDED)),
    }


def suite_table(models: dict[str, dict[str, float | None]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows in the paper's layout: one row per model (label -> headline), the main benchmarks,
    their averages, then any other benchmark scored and the extended average; n/a where not scored."""
    main = [e.label for e in VISUAL_MATH] + ["Visual-Math AVG"] + [e.label for e in PERCEPTION]
    main += ["Perception AVG", "Overall"]
    scored = {label for s in models.values() for label, v in s.items() if v is not None}
    known = {e.label for e in VISUAL_MATH + PERCEPTION}
    extended = [e.label for e in EXTENDED if e.label in scored]
    others = sorted(scored - known - set(extended))
    header = ["model"] + main + extended + others + ["Extended AVG"]
    rows = []
    for model, s in models.items():
        values = {**s, **suite_scores(s)}
        rows.append(
            [model] + [f"{values[c]:.2f}" if values.get(c) is not None else "n/a" for c in header[1:]]
        )
    return header, rows
