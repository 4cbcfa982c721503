"""Trace-length analysis: tokens in the think block and after it, broken down by any item field (stage,
variant, capability, task, correctness, difficulty), length against accuracy across checkpoints, truncation
rate.

Input rows are per-item eval rows as `stagewise.analysis.runs.load_items` returns them (any eval JSONL with
`response_tokens`, `think_tokens`, `correct` works once labelled).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

# The breakdowns the report shows, name -> the item fields grouped by.
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "model": ("variant", "position", "stage"),
    "capability": ("variant", "capability"),
    "task": ("variant", "family", "kind"),
    "correctness": ("variant", "correct"),
    "difficulty": ("variant", "family", "difficulty"),
}


Z95 = 1.96  # two-sided 95% normal quantile, as every paired interval in stagewise uses


def mean_ci95(xs: list[float]) -> float | None:
    """Half-width of the 95% interval of a mean (normal approximation; None under two values)."""
    return Z95 * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else None


def length_stats(rows: list[dict]) -> dict:
    """Means over items (tokens), accuracy and truncation rate (fractions); `response_tokens_ci95` is the 95%
    half-width of the mean response length."""
    n = len(rows)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "accuracy": sum(bool(r["correct"]) for r in rows) / n,
        "response_tokens": statistics.fmean(r["response_tokens"] for r in rows),
        "response_tokens_ci95": mean_ci95([r["response_tokens"] for r in rows]),
        "think_tokens": statistics.fmean(r["think_tokens"] for r in rows),
        "after_think_tokens": statistics.fmean(r["after_think_tokens"] for r in rows),
        "truncation_rate": sum(bool(r["truncated"]) for r in rows) / n,
    }


def breakdown(rows: list[dict], by: tuple[str, ...] | list[str]) -> list[dict]:
    """One row per distinct value tuple of the `by` fields (in first-seen order), with `length_stats`."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r.get(k) for k in by)].append(r)
    return [{**dict(zip(by, key, strict=True)), **length_stats(group)} for key, group in groups.items()]


def final_rows(rows: list[dict]) -> list[dict]:
    """Each (variant, seed)'s last evaluated checkpoint, plus the base: what a variant ends up as."""
    last: dict[tuple, int] = {}
    for r in rows:
        key = (r["variant"], r["seed"])
        last[key] = max(last.get(key, -1), r["position"])
    return [r for r in rows if r["position"] == last[(r["variant"], r["seed"])]]


def length_vs_accuracy(rows: list[dict]) -> list[dict]:
    """Per checkpoint (model, in chain order): accuracy and mean lengths, for the length-accuracy plot."""
    out = breakdown(
        sorted(rows, key=lambda r: (r["variant"] != "base", r["variant"], r["seed"] or 0, r["position"])),
        ("model", "variant", "seed", "position", "stage"),
    )
    return out


def relative_change(a: float | None, b: float | None) -> float | None:
    """100 x (a / b - 1): `a` relative to the reference `b` (the paper's -20.8% is staged vs merged)."""
    if a is None or not b:
        return None
    return 100 * (a / b - 1)


def paired_length(reference: list[dict], other: list[dict]) -> dict:
    """`other` minus `reference` in response tokens on the items both answered, matched by (seed, id): each
    seed's arm against the same seed's reference on the same test items, so the items' own lengths cancel.
    Mean difference, its 95% half-width, the same relative to the reference's mean (%), and per seed."""
    ref = {(r.get("seed"), str(r["id"])): r["response_tokens"] for r in reference if "id" in r}
    matched = [
        (r.get("seed"), r["response_tokens"], ref[key])
        for r in other
        if "id" in r and (key := (r.get("seed"), str(r["id"]))) in ref
    ]
    if not matched:
        return {"n": 0, "delta": None, "ci95": None, "pct": None, "pct_ci95": None, "per_seed": {}}
    diffs = [mine - theirs for _, mine, theirs in matched]
    base_mean = statistics.fmean(theirs for _, _, theirs in matched)
    delta, ci = statistics.fmean(diffs), mean_ci95(diffs)
    per_seed: dict = defaultdict(list)
    for (seed, _, _), d in zip(matched, diffs, strict=True):
        per_seed[seed].append(d)
    return {
        "n": len(diffs),
        "delta": delta,
        "ci95": ci,
        "pct": 100 * delta / base_mean if base_mean else None,
        "pct_ci95": 100 * ci / base_mean if base_mean and ci is not None else None,
        "significant": ci is not None and abs(delta) > ci,
        "per_seed": {
            seed: statistics.fmean(ds) for seed, ds in sorted(per_seed.items(), key=lambda x: str(x[0]))
        },
    }


def staged_vs_merged(rows: list[dict]) -> dict | None:
    """Final-model trace length of `staged` against `merged` (items pooled over seeds, and paired per seed and
    item: `paired`); None without both."""
    finals = final_rows(rows)
    by_variant = {v: [r for r in finals if r["variant"] == v] for v in ("staged", "merged")}
    stats = {v: length_stats(by_variant[v]) for v in ("staged", "merged")}
    if not stats["staged"]["n"] or not stats["merged"]["n"]:
        return None
    return {
        **stats,
        "response_tokens_pct": relative_change(
            stats["staged"]["response_tokens"], stats["merged"]["response_tokens"]
        ),
        "think_tokens_pct": relative_change(stats["staged"]["think_tokens"], stats["merged"]["think_tokens"]),
        "paired": paired_length(by_variant["merged"], by_variant["staged"]),
    }
