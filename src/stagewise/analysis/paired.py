"""Paired accuracy differences: each model against the base on the very same test items.

Two models scored on the same items differ by much less noise than two independent accuracies suggest: the
items both get right or both get wrong cancel. The standard error of the mean per-item difference d_i (model
right minus base right, each 0 or 1) is sd(d) / sqrt(n); a difference whose 95% interval (1.96 standard
errors) excludes 0 is one the test set can see. Small worlds and short stages move accuracy by a point or two,
so every "beats the base" claim in the demo and the grid is read through this table.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

from stagewise.analysis.runs import read_jsonl
from stagewise.analysis.traces import Z95
from stagewise.eval.benchmarks.world import answer_spread

COLLAPSE_SHARE = (
    0.9  # one answer for this share of a kind's items, where the gold answers are spread: collapsed
)


def paired_difference(reference: list[dict], other: list[dict]) -> dict:
    """`other` minus `reference` on the items both answered (matched by `id`): accuracy difference in points,
    its standard error and 95% half-width, and how many items each got right that the other missed."""
    ref = {str(r["id"]): bool(r["correct"]) for r in reference}
    diffs = [int(bool(r["correct"])) - int(ref[str(r["id"])]) for r in other if str(r["id"]) in ref]
    n = len(diffs)
    if n == 0:
        return {"n": 0, "delta": None, "se": None, "ci95": None, "gained": 0, "lost": 0, "significant": False}
    delta = statistics.fmean(diffs)
    if n == 1:  # no spread to estimate from
        return {
            "n": 1,
            "delta": 100 * delta,
            "se": None,
            "ci95": None,
            "gained": diffs.count(1),
            "lost": diffs.count(-1),
            "significant": False,
        }
    se = statistics.stdev(diffs) / math.sqrt(n)
    return {
        "n": n,
        "delta": 100 * delta,
        "se": 100 * se,
        "ci95": 100 * Z95 * se,
        "gained": diffs.count(1),
        "lost": diffs.count(-1),
        "significant": abs(delta) > Z95 * se,
    }


def collapsed_kinds(rows: list[dict], share: float = COLLAPSE_SHARE) -> set[str]:
    """`family/kind`s a model answers with one answer at least `share` of the time while the gold answers are
    spread (their most common one below `share`): it is not looking at those items, and any accuracy it gains
    there is the kind's most common gold answer (BENCHMARKS.md: the demo's visual gain)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("kind") and "extracted" in r:
            groups[f"{r.get('family', '')}/{r['kind']}"].append(r)
    out = set()
    for name, group in groups.items():
        spread = answer_spread(group)
        if spread["top_answer_share"] >= share and spread["gold_top_share"] < share:
            out.add(name)
    return out


def _without(rows: list[dict], kinds: set[str]) -> list[dict]:
    return [r for r in rows if f"{r.get('family', '')}/{r.get('kind')}" not in kinds]


def _by_family(reference: list[dict], rows: list[dict], families: list[str]) -> dict:
    out = {
        fam: paired_difference(
            [r for r in reference if r.get("family") == fam], [r for r in rows if r.get("family") == fam]
        )
        for fam in families
    }
    out["overall"] = paired_difference(reference, rows)
    return out


def compare_to_reference(items: dict[str, list[dict]], families: list[str], reference: str = "base") -> dict:
    """{model label: {family or "overall": paired_difference, "collapsed": [family/kind, ...],
    "without_collapsed": {family or "overall": paired_difference}}} for every model but the reference; the
    last leaves out the kinds either model answers with one answer (`collapsed_kinds`)."""
    if reference not in items:
        return {}
    ref_collapsed = collapsed_kinds(items[reference])
    out = {}
    for label, rows in items.items():
        if label == reference:
            continue
        out[label] = _by_family(items[reference], rows, families)
        drop = ref_collapsed | collapsed_kinds(rows)
        out[label]["collapsed"] = sorted(drop)
        out[label]["without_collapsed"] = _by_family(
            _without(items[reference], drop), _without(rows, drop), families
        )
    return out


def load_eval_items(eval_dirs: dict[str, Path]) -> dict[str, list[dict]]:
    """Per-item rows of each evaluated model (`<eval dir>/items.jsonl`); models without the file are left
    out."""
    return {
        label: read_jsonl(d / "items.jsonl") for label, d in eval_dirs.items() if (d / "items.jsonl").exists()
    }


def format_difference(d: dict) -> str:
    """ "+1.2 ± 0.9*": difference in points, 95% half-width, a star where the interval excludes 0."""
    if d.get("delta") is None:
        return ""
    if d.get("ci95") is None:
        return f"{d['delta']:+.1f}"
    return f"{d['delta']:+.1f} ± {d['ci95']:.1f}{'*' if d['significant'] else ''}"


def paired_table(comparison: dict, families: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["model"] + [f"{f} Δ" for f in families] + ["overall Δ", "items right / wrong vs base"]
    rows = [
        [label]
        + [format_difference(c[f]) for f in families]
        + [format_difference(c["overall"]), f"+{c['overall']['gained']} / -{c['overall']['lost']}"]
        for label, c in comparison.items()
    ]
    return header, rows


def collapse_free_table(comparison: dict, families: list[str]) -> tuple[list[str], list[list[str]]]:
    """The same differences without the question kinds either model answers with one answer."""
    header = ["model"] + [f"{f} Δ" for f in families] + ["overall Δ", "kinds left out"]
    rows = [
        [label]
        + [format_difference(c["without_collapsed"][f]) for f in families]
        + [format_difference(c["without_collapsed"]["overall"]), ", ".join(c["collapsed"]) or "none"]
        for label, c in comparison.items()
    ]
    return header, rows
