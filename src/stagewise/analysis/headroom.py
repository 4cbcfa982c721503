"""Is there anything for RL to sharpen? A model's greedy answers against its k sampled answers on the same
items.

GRPO raises the probability of the model's own sampled answers that score well. Where the greedy answer is
wrong but samples are right well above chance ("half-known" items), there is something to sharpen. Where
samples on the greedy-wrong items are right at chance, the model is guessing there, and a few hundred GRPO
steps have nothing to amplify but a per-kind answer prior: the tiny demo base is such a model (BENCHMARKS.md).
Run this on a base before spending compute on RL from it: `stagewise data headroom --model BASE --data
RUN/data`.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

LETTERS = {"A", "B", "C", "D"}


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def _stats(items: list[dict], rates: dict[str, float]) -> dict:
    wrong = [rates[str(i["id"])] for i in items if not i["correct"]]
    right = [rates[str(i["id"])] for i in items if i["correct"]]
    every = [rates[str(i["id"])] for i in items]
    letters = all(str(i.get("answer", "")).strip() in LETTERS for i in items)
    return {
        "n": len(items),
        "greedy": _mean([float(bool(i["correct"])) for i in items]),
        "sampled": _mean(every),
        "pass_at_k": _mean([float(r > 0) for r in every]),
        "greedy_wrong": len(wrong),
        "sampled_on_greedy_wrong": _mean(wrong),
        "half_known": _mean([float(r >= 0.5) for r in wrong]),
        "sampled_on_greedy_right": _mean(right),
        "chance": 0.25 if letters and items else None,
    }


def headroom(
    greedy: list[dict], pass_rates: dict[str, float], tags: dict[str, list[str]] | None = None
) -> list[dict]:
    """One row per family/kind (in first-seen order) and an `all` row. `greedy`: eval rows (id, family, kind,
    correct, answer); `pass_rates`: id -> share of k samples right. Items without a pass rate are left out.
    `tags` (id -> words) adds a row per family/kind and word, e.g. "perception/colour [red]"."""
    items = [i for i in greedy if str(i["id"]) in pass_rates]
    groups: dict[str, list[dict]] = defaultdict(list)
    for i in items:
        group = f"{i.get('family', '')}/{i.get('kind', '')}".strip("/") or "items"
        groups[group].append(i)
        for word in (tags or {}).get(str(i["id"]), []):
            groups[f"{group} [{word}]"].append(i)
    # Each word's row right after its kind's row.
    first = {g: n for n, g in enumerate(g for g in groups if " [" not in g)}
    order = sorted(groups, key=lambda g: (first[g.split(" [")[0]], " [" in g))
    rows = [{"group": g, **_stats(groups[g], pass_rates)} for g in order]
    return rows + [{"group": "all", **_stats(items, pass_rates)}] if items else rows


def mentions(rows: list[dict], words: list[str]) -> dict[str, list[str]]:
    """id -> the `words` that the reference trace's reasoning names as whole words (what the item is
    about)."""
    out = {}
    for r in rows:
        think = str(r.get("solution") or "").split("</think>")[0]
        found = [w for w in words if re.search(rf"\b{re.escape(w)}\b", think)]
        if found:
            out[str(r["id"])] = found
    return out


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def headroom_table(rows: list[dict], k: int) -> tuple[list[str], list[list[str]]]:
    header = [
        "group",
        "items",
        "greedy acc",
        f"sampled acc (k={k})",
        f"pass@{k}",
        "greedy-wrong items",
        "sampled acc on them",
        "half-known (%)",
        "chance",
    ]
    return header, [
        [
            r["group"],
            str(r["n"]),
            _pct(r["greedy"]),
            _pct(r["sampled"]),
            _pct(r["pass_at_k"]),
            str(r["greedy_wrong"]),
            _pct(r["sampled_on_greedy_wrong"]),
            _pct(r["half_known"]),
            _pct(r["chance"]),
        ]
        for r in rows
    ]
