"""The run's tables: every evaluated model (results.md, with the paired differences to the base), and the
grid's answer: per variant, accuracy per capability and overall, trace length and compute, as mean +- std over
seeds, with the difference to `merged` (the paper's reference arm)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from stagewise.analysis.paired import format_difference, paired_difference
from stagewise.analysis.traces import mean_ci95, paired_length
from stagewise.config import Recipe
from stagewise.utils import atomic_write_json, atomic_write_text

COMPUTE_KEYS = ("prompts_seen", "completions_generated", "tokens_generated", "wall_s")


def _stat(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def variant_compute(vdir: Path) -> dict:
    """Compute summed over a variant's stages, from their manifests (what actually ran, not what was
    asked)."""
    total = dict.fromkeys(COMPUTE_KEYS, 0.0)
    for manifest in sorted(vdir.glob("*/manifest.json")):
        compute = json.loads(manifest.read_text()).get("compute", {})
        for k in COMPUTE_KEYS:
            total[k] += compute.get(k) or 0
    return total


def _seeded(rows: list[dict], seed: int) -> list[dict]:
    """Rows of one seed's model with ids made unique across seeds, so seeds pool into one paired
    comparison."""
    return [{**r, "id": f"{seed}/{r['id']}", "seed": seed} for r in rows]


def versus_merged(
    items: dict[str, list[dict]], finals: dict[tuple[str, int], str], families: list[str]
) -> dict:
    """Each variant's final models minus `merged`'s, seed by seed on the same test items (each seed's arm
    against the same seed's merged run), pooled over seeds: accuracy per family and overall (points ± 95%) and
    trace length (`stagewise.analysis.traces.paired_length`: tokens and % ± 95%, and per seed). The paper's
    claims are of this form (staged vs merged: more accurate, 20.8% shorter traces)."""
    merged = {s: label for (v, s), label in finals.items() if v == "merged"}
    out = {}
    for variant in dict.fromkeys(v for v, _ in finals):
        seeds = [
            s
            for v, s in finals
            if v == variant and s in merged and finals[(v, s)] in items and merged[s] in items
        ]
        if variant == "merged" or not seeds:
            continue
        mine = [r for s in seeds for r in _seeded(items[finals[(variant, s)]], s)]
        ref = [r for s in seeds for r in _seeded(items[merged[s]], s)]
        accuracy = {
            f: paired_difference(
                [r for r in ref if r.get("family") == f], [r for r in mine if r.get("family") == f]
            )
            for f in families
        }
        accuracy["overall"] = paired_difference(ref, mine)
        out[variant] = {"seeds": seeds, "accuracy": accuracy, "trace": paired_length(ref, mine)}
    return out


def _trace_delta(t: dict | None) -> str:
    if not t or t.get("delta") is None:
        return ""
    if t.get("ci95") is None:
        return f"{t['delta']:+.1f}"
    return (
        f"{t['delta']:+.1f} ± {t['ci95']:.1f} ({t['pct']:+.1f} ± {t['pct_ci95']:.1f}%)"
        f"{'*' if t['significant'] else ''}"
    )


VERSUS_MERGED_NOTE = (
    "\nEach final model minus the final `merged` model of the same seed, on the same test items "
    "(seeds pooled), ± the 95% interval of the paired difference; * where it excludes 0. Trace: "
    "mean response length in tokens (and % of merged's).\n\n"
)


def versus_merged_table(vs: dict, families: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "seeds"] + [f"{f} Δ" for f in families] + ["overall Δ", "trace Δ tokens (%)"]
    rows = [
        [name, str(len(v["seeds"]))]
        + [format_difference(v["accuracy"][f]) for f in families]
        + [format_difference(v["accuracy"]["overall"]), _trace_delta(v["trace"])]
        for name, v in vs.items()
    ]
    return header, rows


def grid_summary(
    recipe: Recipe,
    summaries: dict[str, dict],
    finals: dict[tuple[str, int], str],
    vs_merged: dict | None = None,
) -> dict:
    """`finals` maps (variant, seed) to the label of that run's final model in `summaries`; `vs_merged` is
    `versus_merged` of their items (the paired differences the grid table shows)."""
    families = recipe.eval.families
    variants: dict[str, dict] = {}
    for variant in dict.fromkeys(v for v, _ in finals):
        seeds = sorted(s for v, s in finals if v == variant)
        runs = [summaries[finals[(variant, s)]] for s in seeds]
        computes = [variant_compute(recipe.run_dir / variant / f"seed{s}") for s in seeds]
        variants[variant] = {
            "seeds": seeds,
            "accuracy": {f: _stat([100 * r["families"][f]["accuracy"] for r in runs]) for f in families},
            "overall": _stat([100 * r["overall"]["accuracy"] for r in runs]),
            "trace_tokens": _stat([r["overall"]["mean_response_tokens"] for r in runs]),
            "format": _stat([100 * r["overall"]["format_rate"] for r in runs]),
            "compute": {k: _stat([c[k] for c in computes]) for k in COMPUTE_KEYS},
        }
    ref = variants.get("merged")
    for v in variants.values():
        if ref is None:
            v["vs_merged"] = None
            continue
        v["vs_merged"] = {
            **{f: v["accuracy"][f]["mean"] - ref["accuracy"][f]["mean"] for f in families},
            "overall": v["overall"]["mean"] - ref["overall"]["mean"],
            "trace_tokens_pct": 100 * (v["trace_tokens"]["mean"] / ref["trace_tokens"]["mean"] - 1)
            if ref["trace_tokens"]["mean"]
            else None,
        }
    for name, v in variants.items():
        v["paired_vs_merged"] = (vs_merged or {}).get(name)
    base = summaries.get("base")
    return {
        "families": families,
        "variants": variants,
        "base": {f: 100 * base["families"][f]["accuracy"] for f in families}
        | {
            "overall": 100 * base["overall"]["accuracy"],
            "trace_tokens": base["overall"]["mean_response_tokens"],
        }
        if base
        else None,
    }


def _pm(s: dict, digits: int = 1) -> str:
    return (
        f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"
        if len(s["values"]) > 1
        else f"{s['mean']:.{digits}f}"
    )


def _delta(x: float | None, suffix: str = "") -> str:
    return "" if x is None else f"{x:+.1f}{suffix}"


def grid_table(grid: dict) -> tuple[list[str], list[list[str]]]:
    fams = grid["families"]
    header = (
        ["variant", "seeds"]
        + [f"{f} acc" for f in fams]
        + [
            "overall acc",
            "trace tokens",
            "Δ overall vs merged",
            "Δ trace vs merged",
            "Δ overall vs merged, paired",
            "Δ trace vs merged, paired",
            "completions",
            "tokens generated",
            "wall (s)",
        ]
    )
    rows = []
    if grid.get("base"):
        b = grid["base"]
        rows.append(
            ["base", "-"]
            + [f"{b[f]:.1f}" for f in fams]
            + [f"{b['overall']:.1f}", f"{b['trace_tokens']:.1f}", "", "", "", "", "", "", ""]
        )
    for name, v in grid["variants"].items():
        d = v["vs_merged"] or {}
        p = v.get("paired_vs_merged") or {}
        c = v["compute"]
        rows.append(
            [name, str(len(v["seeds"]))]
            + [_pm(v["accuracy"][f]) for f in fams]
            + [
                _pm(v["overall"]),
                _pm(v["trace_tokens"]),
                _delta(d.get("overall")),
                _delta(d.get("trace_tokens_pct"), "%"),
                format_difference(p["accuracy"]["overall"]) if p else "",
                _trace_delta(p.get("trace")),
                f"{c['completions_generated']['mean']:.0f}",
                f"{c['tokens_generated']['mean']:.0f}",
                f"{c['wall_s']['mean']:.0f}",
            ]
        )
    return header, rows


def write_grid_summary(run_dir: Path, grid: dict) -> None:
    header, rows = grid_table(grid)
    note = (
        "Accuracy (%) on the held-out world test splits, final model of each variant, mean ± std over seeds; "
        "Δ = difference of means to `merged`; paired = each seed's final model minus the same seed's merged "
        "model on the same items, seeds pooled, ± 95% (* excludes 0; trace in tokens and % of merged's); "
        "compute = per seed, summed over the variant's stages.\n\n"
    )
    atomic_write_text(run_dir / "grid.md", note + markdown_table(header, rows))
    atomic_write_json(run_dir / "grid.json", grid)


PAIRED_NOTE = (
    "\nEach model minus the base on the same test items, in accuracy points, ± the 95% interval of the "
    "paired difference; * where the interval excludes 0 (stagewise.analysis.paired).\n\n"
)
COLLAPSE_NOTE = (
    "\nThe same, leaving out the question kinds either model answers with one answer for 90%+ of their "
    "items while the gold answers are spread: accuracy gained there is the kind's most common gold "
    "answer, not looking.\n\n"
)


def results_table(
    summaries: dict[str, dict], families: list[str], items: dict[str, list[dict]] | None = None
) -> tuple[list[str], list[list[str]]]:
    """One row per evaluated model; with its per-item rows (`items`), trace length ± the 95% interval."""
    header = ["model"] + [f"{f} acc" for f in families] + ["overall acc", "format", "trace tokens"]
    rows = []
    for label, s in summaries.items():
        fam = s["families"]
        ci = mean_ci95([r["response_tokens"] for r in (items or {}).get(label, []) if "response_tokens" in r])
        rows.append(
            [label]
            + [f"{100 * fam[f]['accuracy']:.1f}" for f in families]
            + [
                f"{100 * s['overall']['accuracy']:.1f}",
                f"{100 * s['overall']['format_rate']:.1f}",
                _tokens(s["overall"].get("mean_response_tokens"))
                + (f" ± {ci:.1f}" if ci is not None else ""),
            ]
        )
    return header, rows


def _tokens(n: float | None) -> str:
    """Trace length, or n/a where it is unknown (scored prediction files carry text, not token counts)."""
    return "n/a" if n is None else f"{n:.1f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
