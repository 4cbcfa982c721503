"""`stagewise report RUN_OR_GRID_DIR`: one self-contained HTML page (figures embedded as base64 PNG) and a
Markdown twin, from whatever the run directory holds.

Sections: what is missing (a stopped run still gets a report), the paper-style table, training curves per
stage, trace lengths (staged vs merged, breakdowns, length vs accuracy), perception-error shares, and example
traces per variant. The page is built as a list of blocks rendered twice, so both formats say the same thing.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import statistics
from pathlib import Path

from stagewise.analysis.paired import COLLAPSE_SHARE, collapsed_kinds
from stagewise.analysis.runs import (
    CAPABILITY,
    benchmark_outputs,
    data_index,
    load_items,
    read_jsonl,
    scan_run,
)
from stagewise.analysis.traces import BREAKDOWNS, breakdown, final_rows, length_vs_accuracy, staged_vs_merged
from stagewise.eval.benchmarks.world import answer_spread
from stagewise.report import figures
from stagewise.utils import atomic_write_text

log = logging.getLogger(__name__)
VARIANT_ORDER = ("base", "merged", "staged")


def _pct(x: float | None, digits: int = 1) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}"


def _num(x: float | None, digits: int = 1, sign: bool = False) -> str:
    return "" if x is None else (f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}")


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def arm_colours(names) -> dict[str, str]:
    """One colour per arm on every plot of the page (the base first, as in the table)."""
    return {
        v: figures.PALETTE[i % len(figures.PALETTE)] for i, v in enumerate(variant_order(["base", *names]))
    }


def variant_order(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return [v for v in VARIANT_ORDER if v in names] + [v for v in names if v not in VARIANT_ORDER]


def benchmark_order(rows: list[dict]) -> list[str]:
    names = list(dict.fromkeys(r["benchmark"] for r in rows))
    known = [f for f in CAPABILITY if f in names]
    return known + sorted(n for n in names if n not in known)


# ------------------------------------------------------------------------------------------ the table
def paper_table(finals: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows: base, merged, staged, other variants (final models; mean ± std over seeds). Columns: accuracy per
    benchmark, perception average, visual-math average, overall (macro average over benchmarks), trace
    length, and differences to merged."""
    benches = benchmark_order(finals)
    caps = {b: CAPABILITY.get(b, "other") for b in benches}
    groups = {
        "perception avg": [b for b in benches if caps[b] == "perception"],
        "visual-math avg": [b for b in benches if caps[b] == "visual_reasoning"],
    }
    groups = {k: v for k, v in groups.items() if v}
    per_variant: dict[str, dict[str, list[float]]] = {}
    for v in variant_order(r["variant"] for r in finals):
        seeds = sorted({r["seed"] for r in finals if r["variant"] == v}, key=lambda s: -1 if s is None else s)
        cols: dict[str, list[float]] = {}
        for s in seeds:
            rows = [r for r in finals if r["variant"] == v and r["seed"] == s]
            acc = {}
            for b in benches:
                sel = [r for r in rows if r["benchmark"] == b]
                if sel:
                    acc[b] = 100 * sum(bool(r["correct"]) for r in sel) / len(sel)
            for name, members in groups.items():
                if all(b in acc for b in members):
                    acc[name] = statistics.fmean(acc[b] for b in members)
            if acc and all(b in acc for b in benches):
                acc["overall"] = statistics.fmean(acc[b] for b in benches)
            acc["trace tokens"] = statistics.fmean(r["response_tokens"] for r in rows)
            for k, x in acc.items():
                cols.setdefault(k, []).append(x)
        per_variant[v] = cols
    columns = benches + list(groups) + ["overall", "trace tokens"]
    ref = per_variant.get("merged")
    header = ["model", "seeds"] + [f"{c} (%)" if c != "trace tokens" else "trace tokens" for c in columns]
    header += ["Δ overall vs merged", "Δ trace vs merged (%)"] if ref else []
    out = []
    for v, cols in per_variant.items():
        cells = [v, str(max((len(x) for x in cols.values()), default=0)) if v != "base" else "-"]
        for c in columns:
            xs = cols.get(c, [])
            cells.append(
                ""
                if not xs
                else f"{statistics.fmean(xs):.1f}" + (f" ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else "")
            )
        if ref:
            d = _mean(cols.get("overall", [])), _mean(ref.get("overall", []))
            t = _mean(cols.get("trace tokens", [])), _mean(ref.get("trace tokens", []))
            cells.append(_num(d[0] - d[1], sign=True) if None not in d else "")
            cells.append(_num(100 * (t[0] / t[1] - 1), sign=True) if None not in t and t[1] else "")
        out.append(cells)
    return header, out


Z95 = 1.959964  # two-sided 95% normal quantile
SMOOTHING = 0.6
"""Exponential moving average weight of the arms-on-compute curves (TensorBoard's default slider value)."""


def benchmark_intervals(
    finals: list[dict],
) -> tuple[list[str], dict[str, list[tuple[float, float, float] | None]]]:
    """Benchmarks (columns of the paper table) and, per variant, (accuracy, low, high) in % of its final
    models, or None where it was not scored. The interval is 95% over test items: each item's correctness
    averaged over the variant's seeds, then mean ± 1.96 standard errors of those item means (items are what a
    benchmark samples; seeds are averaged within an item, so they narrow the interval only as far as they
    disagree)."""
    benches = benchmark_order(finals)
    out: dict[str, list[tuple[float, float, float] | None]] = {}
    for v in variant_order(r["variant"] for r in finals):
        values: list[tuple[float, float, float] | None] = []
        for b in benches:
            per_item: dict[str, list[float]] = {}
            for r in finals:
                if r["variant"] == v and r["benchmark"] == b:
                    per_item.setdefault(str(r["id"]), []).append(float(bool(r["correct"])))
            means = [statistics.fmean(xs) for xs in per_item.values()]
            if not means:
                values.append(None)
                continue
            m = statistics.fmean(means)
            half = Z95 * statistics.stdev(means) / len(means) ** 0.5 if len(means) > 1 else 0.0
            values.append((100 * m, 100 * max(0.0, m - half), 100 * min(1.0, m + half)))
        out[v] = values
    return benches, out


def _ema(ys: list[float], weight: float) -> list[float]:
    out, last = [], None
    for y in ys:
        last = y if last is None else weight * last + (1 - weight) * y
        out.append(last)
    return out


def compute_axis(chain: list[Path], problems: list[str]) -> list[tuple[str, float, list[dict]]]:
    """(stage, completions generated before it, its log rows with `x` = completions generated by the end of
    that step, all stages counted) for one `<variant>/seed<k>`; stages that generate nothing (SFT) are
    skipped."""
    out, offset = [], 0.0
    for d in chain:
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        total = float((manifest.get("compute") or {}).get("completions_generated") or 0)
        log = _trainer_log(d, problems)
        if not total or not log:
            continue
        t = (manifest.get("plan") or {}).get("trainer") or {}
        steps = max((r["step"] for r in log if isinstance(r.get("step"), (int, float))), default=0)
        per_step = (
            t["prompts_per_step"] * t["group_size"]
            if t.get("prompts_per_step") and t.get("group_size")
            else total / max(1, t.get("steps") or steps)
        )
        out.append(
            (
                d.name,
                offset,
                [
                    {**r, "x": offset + r["step"] * per_step}
                    for r in log
                    if isinstance(r.get("step"), (int, float))
                ],
            )
        )
        offset += total
    return out


def arm_curves(layout, problems: list[str], points: int = 100) -> dict[str, dict[str, dict]]:
    """{arm: {panel: curve}} for `figures.arms_on_compute`: per seed the logged metric against completions
    generated, smoothed (EMA), then on a common grid over the x range every seed covers: mean, min and max."""
    import numpy as np

    seeds: dict[str, dict[str, list[list[tuple[float, float]]]]] = {}
    for key, chain in layout.stages.items():
        arm = key.split("/")[0]
        rows = [r for _, _, log in compute_axis(chain, problems) for r in log]
        for panel, (keys, _) in figures.CURVES.items():
            pts = sorted((r["x"], v) for r in rows if (v := figures._value(r, keys)) is not None)
            if pts:
                seeds.setdefault(arm, {}).setdefault(panel, []).append(pts)
    out: dict[str, dict[str, dict]] = {}
    for arm in variant_order(seeds):
        for panel, curves in seeds[arm].items():
            smooth = [
                (np.array([x for x, _ in c]), np.array(_ema([y for _, y in c], SMOOTHING))) for c in curves
            ]
            if len(smooth) == 1:
                grid, ys = smooth[0][0], smooth[0][1][None, :]
            else:
                lo, hi = max(x[0] for x, _ in smooth), min(x[-1] for x, _ in smooth)
                grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
                ys = np.stack([np.interp(grid, x, y) for x, y in smooth])
            out.setdefault(arm, {})[panel] = {
                "x": grid.tolist(),
                "mean": ys.mean(0).tolist(),
                "low": ys.min(0).tolist(),
                "high": ys.max(0).tolist(),
                "raw": [p for c in curves for p in c],
                "seeds": len(curves),
            }
    return out


# ------------------------------------------------------------------------------------------- sections
def _trainer_log(stage_dir: Path, problems: list[str]) -> list[dict]:
    """The stage's log rows; an unreadable log is reported on the page rather than failing the report."""
    path = stage_dir / "trainer_log.jsonl"
    try:
        return read_jsonl(path) if path.exists() else []
    except ValueError as e:
        problems.append(str(e))
        return []


def curves_section(layout) -> list:
    blocks: list = [("h2", "Training curves per stage")]
    arm_problems: list[str] = []
    arms = arm_curves(layout, arm_problems)
    if arms:
        blocks.append(
            (
                "figure",
                "arms-on-compute",
                figures.arms_on_compute(
                    "Every arm on one compute axis",
                    {p: ylabel for p, (_, ylabel) in figures.CURVES.items()},
                    arms,
                    arm_colours(k.split("/")[0] for k in layout.stages),
                ),
                "All arms on one x axis, completions generated (every stage's, in order); line: the mean "
                f"over seeds of each seed's curve smoothed (exponential moving average, weight {SMOOTHING}), "
                "band: the lowest to highest seed; faint dots: the logged values.",
            )
        )
    shown = set()
    for key, chain in layout.stages.items():
        variant = key.split("/")[0]
        if variant in shown or not chain:  # one seed per variant keeps the page short
            continue
        shown.add(variant)
        problems: list[str] = []
        stages = [(d.name, _trainer_log(d, problems)) for d in chain]
        missing = [name for name, log in stages if not log]
        png = figures.training_curves(f"{key}: GRPO training curves", stages)
        if png:
            blocks.append(
                (
                    "figure",
                    f"curves-{key.replace('/', '-')}",
                    png,
                    f"{key}: reward, accuracy reward, completion length and KL per logging step; the "
                    "stages run left to right, a dotted line where the next one starts.",
                )
            )
        stab = figures.stability_curves(f"{key}: entropy and clip ratio", stages)
        if stab:
            blocks.append(
                (
                    "figure",
                    f"stability-{key.replace('/', '-')}",
                    stab,
                    f"{key}: policy entropy and the share of tokens clipped (region = outside [1 - eps_low, "
                    "1 + eps_high]; low, high) per logging step, stages left to right: where GRPO "
                    "instability shows first.",
                )
            )
        if missing:
            blocks.append(("p", f"{key}: no trainer log for {', '.join(missing)}."))
        blocks += [("p", f"Unreadable trainer log: {p}") for p in problems]
    if len(blocks) == 1:
        blocks.append(("p", "No finished stage with a trainer log."))
    return blocks


def _with_ci(stats: dict) -> str:
    """Mean response tokens ± the 95% half-width of that mean."""
    ci = stats.get("response_tokens_ci95")
    return f"{stats['response_tokens']:.1f}" + (f" ± {ci:.1f}" if ci is not None else "")


def length_section(rows: list[dict], finals: list[dict]) -> list:
    blocks: list = [("h2", "Trace length")]
    svm = staged_vs_merged(rows)
    if svm:
        pair = svm["paired"]
        paired = (
            f" Paired on the same test items (each seed's staged against the same seed's merged, "
            f"{pair['n']} pairs): {pair['delta']:+.2f} ± {pair['ci95']:.2f} tokens, {pair['pct']:+.1f} ± "
            f"{pair['pct_ci95']:.1f}% (95%){'' if pair['significant'] else ', an interval that includes 0'}; "
            f"per seed: " + ", ".join(f"seed {seed} {d:+.2f}" for seed, d in pair["per_seed"].items()) + "."
            if pair["n"] > 1 and pair["ci95"] is not None and pair["pct"] is not None
            else ""
        )
        blocks.append(
            (
                "p",
                f"Final staged model vs final merged model: mean response "
                f"{_with_ci(svm['staged'])} vs {_with_ci(svm['merged'])} tokens "
                f"({svm['response_tokens_pct']:+.1f}%; the paper reports -20.8%), think block "
                f"{svm['staged']['think_tokens']:.1f} vs {svm['merged']['think_tokens']:.1f} tokens."
                + paired,
            )
        )
    else:
        blocks.append(
            (
                "p",
                "No staged-vs-merged comparison: this run has no final model of both a `staged` and a "
                "`merged` variant (run `stagewise grid` with a merged arm).",
            )
        )
    by_cap = breakdown(finals, ("variant", "capability"))
    caps = list(dict.fromkeys(r["capability"] for r in by_cap))
    variants = variant_order(r["variant"] for r in by_cap)
    series = {
        v: [
            next((r["response_tokens"] for r in by_cap if r["variant"] == v and r["capability"] == c), None)
            for c in caps
        ]
        for v in variants
    }
    if caps:
        blocks.append(
            (
                "figure",
                "length-by-capability",
                figures.grouped_bars(
                    "Mean response length of the final models",
                    caps,
                    series,
                    "mean response length (tokens)",
                    "capability (test split)",
                ),
                "Mean response length (tokens) per capability, final model of each variant (pooled over "
                "seeds), staged vs merged side by side.",
            )
        )
    for name in ("capability", "correctness", "difficulty"):
        keys = BREAKDOWNS[name][1:]
        part = [r for r in breakdown(finals, BREAKDOWNS[name]) if r.get(keys[-1]) is not None]
        if not part:
            continue
        order = variant_order(r["variant"] for r in part)
        part.sort(key=lambda r: (order.index(r["variant"]), *(str(r[k]) for k in keys)))
        blocks.append(("h3", f"Final models by {name}"))
        blocks.append(
            (
                "table",
                [
                    "variant",
                    *keys,
                    "items",
                    "accuracy (%)",
                    "think tokens",
                    "after-think tokens",
                    "response tokens",
                    "truncated (%)",
                ],
                [
                    [
                        r["variant"],
                        *(str(r[k]) for k in keys),
                        str(r["n"]),
                        _pct(r["accuracy"]),
                        _num(r["think_tokens"]),
                        _num(r["after_think_tokens"]),
                        _num(r["response_tokens"]),
                        _pct(r["truncation_rate"]),
                    ]
                    for r in part
                ],
            )
        )
    points = length_vs_accuracy(rows)
    if points:
        blocks.append(
            (
                "figure",
                "length-vs-accuracy",
                figures.length_vs_accuracy(points),
                "Each point is an evaluated checkpoint (base, then each stage); x: mean response length in "
                "tokens, y: accuracy over all test items.",
            )
        )
        blocks.append(
            (
                "table",
                [
                    "checkpoint",
                    "items",
                    "accuracy (%)",
                    "think tokens",
                    "response tokens (± 95%)",
                    "truncated (%)",
                ],
                [
                    [
                        p["model"],
                        str(p["n"]),
                        _pct(p["accuracy"]),
                        _num(p["think_tokens"]),
                        _with_ci(p),
                        _pct(p["truncation_rate"]),
                    ]
                    for p in points
                ],
            )
        )
    return blocks


# ------------------------------------------------------------------------------------------ answer collapse


def collapse_section(rows: list[dict], finals: list[dict], max_models: int = 6) -> list:
    """Per question kind: how often each checkpoint gives its most common answer, beside the gold answers' own
    concentration. RL on a model that cannot see a kind collapses it onto one answer (BENCHMARKS.md)."""
    rows = [r for r in rows if r.get("kind") and "extracted" in r]
    models = [p["model"] for p in length_vs_accuracy(rows)]
    if len(models) > max_models:  # a grid: the base and the final models of the first seed
        first = min((r["seed"] for r in finals if r["seed"] is not None), default=None)
        rows = [r for r in finals if r.get("kind") and "extracted" in r and r["seed"] in (None, first)]
        models = [p["model"] for p in length_vs_accuracy(rows)][:max_models]
    if not rows:
        return []
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in rows:
        groups.setdefault((r["family"], r["kind"]), {}).setdefault(r["model"], []).append(r)
    kinds = sorted(groups)
    spread = {k: {m: answer_spread(g) for m, g in groups[k].items()} for k in kinds}
    gold = {k: next(iter(spread[k].values()))["gold_top_share"] for k in kinds}
    names = [f"{f}/{k}" for f, k in kinds]
    by_model = {m: collapsed_kinds([r for r in rows if r["model"] == m]) for m in models}
    collapsed = [(m, n) for n in names for m in models if n in by_model[m]]
    blocks: list = [("h2", "Answer collapse")]
    blocks.append(
        (
            "p",
            "Share of a question kind's test items given the checkpoint's most common answer, beside the "
            "share of the most common gold answer. A checkpoint far above the gold share answers the "
            "kind without looking (RL amplifies a per-kind answer prior where the model cannot see). "
            + (
                f"{len(collapsed)} (checkpoint, kind) pairs at {COLLAPSE_SHARE:.0%} or more: "
                + ", ".join(f"{m}: {k}" for m, k in collapsed[:8])
                + (", ..." if len(collapsed) > 8 else "")
                + "."
                if collapsed
                else f"No checkpoint gives one answer to {COLLAPSE_SHARE:.0%} of a kind."
            ),
        )
    )
    series = {"gold": [100 * gold[k] for k in kinds]}
    series |= {
        m: [100 * spread[k][m]["top_answer_share"] if m in spread[k] else None for k in kinds] for m in models
    }
    blocks.append(
        (
            "figure",
            "answer-collapse",
            figures.grouped_bars(
                "Most common answer's share per question kind",
                names,
                series,
                "share of items (%)",
                "question kind (test split)",
            ),
            "Bars: share of the kind's items given the most common answer, for the gold answers and each "
            "checkpoint.",
        )
    )
    blocks.append(
        (
            "table",
            ["kind", "items", "gold top (%)", *models],
            [
                [
                    n,
                    str(len(next(iter(groups[k].values())))),
                    _pct(gold[k], 0),
                    *(
                        f"{spread[k][m]['top_answer']} {_pct(spread[k][m]['top_answer_share'], 0)}"
                        if m in spread[k]
                        else ""
                        for m in models
                    ),
                ]
                for n, k in zip(names, kinds, strict=True)
            ],
        )
    )
    return blocks


def diagnoses(layout, finals: list[dict], out_dir: Path, data_dir: Path) -> dict[str, dict]:
    """label -> diagnosis summary: the one `stagewise diagnose` wrote, else the oracle alone (computed now,
    into the report folder) when the run has world data with scene graphs."""
    from stagewise.analysis.diagnose import diagnose, load_data

    labels = {r["model"] for r in finals}
    out, data = {}, None
    for ref in layout.evals:
        if ref.label not in labels:
            continue
        saved = ref.eval_dir / "diagnosis" / "summary.json"
        if saved.exists():
            out[ref.label] = {
                "summary": json.loads(saved.read_text()),
                "rows": read_jsonl(ref.eval_dir / "diagnosis" / "diagnosis.jsonl"),
            }
            continue
        if not any(data_dir.glob("*/test/dataset_info.json")):
            continue
        data = data if data is not None else load_data(data_dir)
        try:
            target = out_dir / "diagnosis" / ref.label.replace("/", "-")
            summary = diagnose(ref.eval_dir / "items.jsonl", data, target)
            out[ref.label] = {"summary": summary, "rows": read_jsonl(target / "diagnosis.jsonl")}
        except ValueError as e:  # items from other data than this run's world
            log.warning("diagnosis of %s skipped: %s", ref.label, e)
    return out


def diagnosis_section(diag: dict[str, dict]) -> list:
    blocks: list = [("h2", "Perception or reasoning? Attribution of wrong answers")]
    if not diag:
        return blocks + [
            ("p", "No diagnosis: run `stagewise diagnose` (no world scene graphs to run the oracle on).")
        ]
    blocks.append(
        (
            "p",
            "Share of wrongly answered image items whose first error is one of perception, by method: "
            "oracle = the trace's observations checked against the scene graph (ground truth on the "
            "world), probe = the same model right once given the gold caption, judge = an LLM reading "
            "the trace. Text-only items are left out (nothing to see).",
        )
    )
    models = list(diag)
    methods = [
        m for m in ("oracle", "probe", "judge") if any(m in d["summary"]["overall"] for d in diag.values())
    ]
    rows = []
    for label, d in diag.items():
        s = d["summary"]
        for m in methods:
            o = s["overall"].get(m)
            if o:
                rows.append(
                    [
                        label,
                        m,
                        str(s["wrong"]),
                        str(o["n"]),
                        str(o["perception"]),
                        str(o["reasoning"]),
                        str(o["unattributed"]),
                        _pct(o["perception_share"]),
                    ]
                )
    blocks.append(
        (
            "table",
            [
                "model",
                "method",
                "wrong",
                "diagnosed",
                "perception",
                "reasoning",
                "unattributed",
                "perception share (%)",
            ],
            rows,
        )
    )
    series = {
        m: [
            None
            if diag[k]["summary"]["overall"].get(m, {}).get("perception_share") is None
            else 100 * diag[k]["summary"]["overall"][m]["perception_share"]
            for k in models
        ]
        for m in methods
    }
    blocks.append(
        (
            "figure",
            "perception-share",
            figures.grouped_bars(
                "Wrong answers that start with a perception error",
                models,
                series,
                "perception errors (% of attributed)",
                "model (final checkpoint)",
            ),
            "Perception-error share per model and attribution method.",
        )
    )
    task_rows = []
    for label, d in diag.items():
        for task, per in d["summary"]["by"]["task"].items():
            cells = [label, task]
            for m in methods:
                o = per.get(m) or {}
                cells.append(f"{_pct(o.get('perception_share'))} (n={o.get('n', 0)})")
            task_rows.append(cells)
    blocks.append(("h3", "By task"))
    blocks.append(("table", ["model", "task"] + [f"{m}: perception share (%)" for m in methods], task_rows))
    agree = [
        [label, m, str(a["n"]), _num(a["precision"], 2), _num(a["recall"], 2), _num(a["agreement"], 2)]
        for label, d in diag.items()
        for m, a in d["summary"].get("vs_oracle", {}).items()
    ]
    if agree:
        blocks.append(("h3", "Agreement with the oracle (perception = positive)"))
        blocks.append(("table", ["model", "method", "items", "precision", "recall", "agreement"], agree))
    return blocks


def _image_b64(index: dict, item_id: str) -> str | None:
    paths = (index.get(item_id) or {}).get("images") or []
    if not paths or not Path(paths[0]).exists():
        return None
    return base64.b64encode(Path(paths[0]).read_bytes()).decode()


def _evidence(v: dict) -> str:
    """A verdict's evidence; a probe row without one says what the model answered with the caption."""
    return v.get("evidence") or (
        f"given the caption it answered {v['extracted']!r}" if "extracted" in v else ""
    )


def _pick(picks: list[dict], candidates: list[dict]) -> None:
    """Add the first candidate from a benchmark not shown yet (else the first candidate)."""
    used = {p["benchmark"] for p in picks}
    fresh = [r for r in candidates if r["benchmark"] not in used] or candidates
    if fresh:
        picks.append(fresh[0])


def examples_section(finals: list[dict], index: dict, diag: dict[str, dict], per_variant: int = 3) -> list:
    blocks: list = [("h2", "Example traces")]
    for v in variant_order(r["variant"] for r in finals):
        rows = [r for r in finals if r["variant"] == v]
        label = rows[0]["model"]
        rows = [r for r in rows if r["model"] == label]
        verdicts = {d["id"]: d for d in (diag.get(label) or {}).get("rows", [])}
        wrong_img = [r for r in rows if not r["correct"] and r["id"] in verdicts]
        right_img = [r for r in rows if r["correct"] and index.get(r["id"], {}).get("images")]
        picks: list[dict] = []
        # One wrong answer of each attributed kind, then a right one, from different benchmarks where
        # possible.
        for lab in ("perception", "reasoning"):
            _pick(
                picks, [r for r in wrong_img if (verdicts[r["id"]].get("oracle") or {}).get("label") == lab]
            )
        _pick(picks, right_img)
        picks += [r for r in rows if r not in picks]
        examples = []
        for r in picks[:per_variant]:
            d = index.get(r["id"], {})
            verdict = verdicts.get(r["id"], {})
            text = "right" if r["correct"] else "wrong"
            parts = [
                f"{m}: {verdict[m]['label']} ({_evidence(verdict[m])})"
                for m in ("oracle", "probe", "judge")
                if verdict.get(m)
            ]
            examples.append(
                {
                    "model": label,
                    "id": r["id"],
                    "task": f"{r['benchmark']}/{r['kind']}",
                    "question": str(d.get("problem", "")).replace("<image>", "").strip(),
                    "gold": str(r.get("answer", d.get("answer", ""))),
                    "extracted": r.get("extracted"),
                    "response": r.get("response", ""),
                    "verdict": text + ("; " + "; ".join(parts) if parts else ""),
                    "image": _image_b64(index, r["id"]),
                }
            )
        blocks.append(("h3", f"{v} ({label})"))
        blocks.append(("examples", examples))
    return blocks


# -------------------------------------------------------------------------------------------- rendering
CSS = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}
figure img{max-width:100%}figcaption{font-size:13px;color:#555}.missing{background:#fff4e5;\
border:1px solid #f0b060;
padding:.5em 1em}.example{display:flex;gap:1em;border-top:1px solid #ddd;padding:.6em 0}\
.example img{width:168px;
height:168px;image-rendering:pixelated;border:1px solid #ccc}pre{white-space:pre-wrap;\
background:#f7f7f7;padding:.4em;
font-size:13px;margin:.3em 0}"""


def render_html(title: str, blocks: list) -> str:
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for b in blocks:
        kind = b[0]
        if kind in ("h2", "h3", "p"):
            out.append(f"<{kind}>{html.escape(b[1])}</{kind}>")
        elif kind == "missing":
            items = "".join(f"<li>{html.escape(m)}</li>" for m in b[1])
            out.append(
                f"<div class='missing' id='missing'><b>Missing or unfinished:</b><ul>{items}</ul></div>"
            )
        elif kind == "table":
            _, header, rows, *rest = b
            tid = f" id='{rest[0]}'" if rest else ""
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            out.append(f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "figure":
            _, name, png, caption = b
            out.append(
                f"<figure class='figure' id='fig-{name}'><img alt='{html.escape(caption)}' "
                f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        elif kind == "examples":
            for e in b[1]:
                img = f"<img alt='item image' src='data:image/png;base64,{e['image']}'>" if e["image"] else ""
                out.append(
                    f"<div class='example'>{img}<div><b>{html.escape(e['id'])}</b> "
                    f"({html.escape(e['task'])})<pre>{html.escape(e['question'])}</pre>"
                    f"gold: <b>{html.escape(e['gold'])}</b>, answered: <b>{html.escape(str(e['extracted']))}"
                    f"</b><pre>{html.escape(e['response'])}</pre>"
                    f"<i>{html.escape(e['verdict'])}</i></div></div>"
                )
    out.append("</body></html>")
    return "\n".join(out)


def _md_cell(x: str) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, blocks: list, figure_dir: str) -> str:
    out = [f"# {title}", ""]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            out += [f"## {b[1]}", ""]
        elif kind == "h3":
            out += [f"### {b[1]}", ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "missing":
            out += ["**Missing or unfinished:**", ""] + [f"- {m}" for m in b[1]] + [""]
        elif kind == "table":
            header, rows = b[1], b[2]
            out += [
                "| " + " | ".join(map(_md_cell, header)) + " |",
                "|" + "|".join(["---"] * len(header)) + "|",
            ]
            out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows] + [""]
        elif kind == "figure":
            out += [f"![{b[3]}]({figure_dir}/{b[1]}.png)", "", f"*{b[3]}*", ""]
        elif kind == "examples":
            for e in b[1]:
                out += [
                    f"**{e['id']}** ({e['task']}): {_md_cell(e['question'])}  ",
                    f"gold `{e['gold']}`, answered `{e['extracted']}`  ",
                    "```",
                    e["response"],
                    "```",
                    f"*{e['verdict']}*",
                    "",
                ]
    return "\n".join(out)


def checkpoint_scores(layout) -> dict[str, dict[str, float | None]]:
    """label -> {world split or benchmark label: its one number (%)} for every evaluated checkpoint: the world
    splits' accuracy from `summary.json`, each benchmark's headline (stagewise.eval.suites.headline) from its
    `metrics.json`."""
    from stagewise.eval.suites import headline

    out = {}
    for ref in layout.evals:
        scores: dict[str, float | None] = {}
        summary = ref.eval_dir / "summary.json"
        if summary.exists():
            for fam, m in (json.loads(summary.read_text()).get("families") or {}).items():
                scores[fam] = 100 * m["accuracy"] if m.get("accuracy") is not None else None
        for d in sorted(p for p in ref.eval_dir.iterdir() if p.is_dir() and (p / "metrics.json").exists()):
            name = d.name.split("-")[0]
            scores[d.name] = headline(name, json.loads((d / "metrics.json").read_text()))
        out[ref.label] = scores
    return out


def suite_section(layout) -> list:
    """Every evaluated checkpoint in the paper's layout (world splits, then the benchmarks and their suite
    averages where scored), and each seed's staged - merged difference of final models."""
    from stagewise.eval.suites import suite_scores, suite_table

    scores = checkpoint_scores(layout)
    if not scores:
        return []
    world = ("perception", "textual", "visual")
    worlds = [w for w in world if any(w in s for s in scores.values())]
    benches = {m: {k: v for k, v in s.items() if k not in world} for m, s in scores.items()}
    if any(v is not None for s in benches.values() for v in s.values()):
        header, rows = suite_table(benches)
    else:  # world splits only: no empty benchmark columns
        header, rows = ["model"], [[m] for m in scores]
    header = header[:1] + worlds + header[1:]
    rows = [[r[0]] + [_num(scores[r[0]].get(w), 2) or "n/a" for w in worlds] + r[1:] for r in rows]
    finals: dict[tuple[str, int | None], str] = {}
    for ref in sorted(
        layout.evals, key=lambda r: r.position
    ):  # the last checkpoint of each arm and seed wins
        finals[(ref.variant, ref.seed)] = ref.label
    for (variant, seed), label in sorted(finals.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        merged = finals.get(("merged", seed))
        if variant in ("merged", "base") or merged is None:
            continue
        a = {**scores[label], **suite_scores(scores[label])}
        b = {**scores[merged], **suite_scores(scores[merged])}
        cells = []
        for col in header[1:]:
            x, y = a.get(col), b.get(col)
            cells.append(_num(x - y, 2, sign=True) if x is not None and y is not None else "n/a")
        rows.append([f"{label} - {merged}"] + cells)
    return [
        ("h2", "Benchmark suite (paper layout)"),
        (
            "p",
            "Every evaluated checkpoint: world test splits, then each benchmark's headline score (%) in the "
            "paper's layout with its Visual-Math, Perception, Overall and Extended averages (n/a where not "
            "all of an average's benchmarks were scored); the last rows are each seed's final staged-type "
            "arm minus the merged arm.",
        ),
        ("table", header, rows, "suite-table"),
    ]


def run_rows(layout, index: dict) -> list[dict]:
    """Every evaluated model's per-item rows (world splits and benchmarks); an unreadable eval file costs that
    model (or benchmark) and is listed in `layout.missing`, not the report."""
    rows = []
    for ref in list(layout.evals):
        try:
            rows += load_items(ref, index)
        except ValueError as e:
            layout.missing.append(f"{ref.label}: unreadable eval output: {e}")
            layout.evals.remove(ref)
            continue
        for bench, path in benchmark_outputs(ref):
            try:
                rows += load_items(ref, None, path, bench)
            except ValueError as e:
                layout.missing.append(f"{ref.label}/{bench}: unreadable eval output: {e}")
    return rows


def run_paper_table(run_dir: str | Path) -> tuple[list[str], list[list[str]]] | None:
    """The report's paper-style table of a run folder (None before any model is evaluated): what the pipeline
    logs to the trackers once the run is evaluated."""
    layout = scan_run(run_dir)
    finals = final_rows(run_rows(layout, data_index(Path(run_dir))))
    return paper_table(finals) if finals else None


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write `report.html` (self-contained), `report.md` and `figures/*.png` into `out_dir` (default
    `<run_dir>/report/`); returns the HTML path. Works on partial runs: what is missing is listed first."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    layout = scan_run(run_dir)
    index = data_index(run_dir)
    rows = run_rows(layout, index)
    finals = final_rows(rows)
    blocks: list = []
    if layout.missing:
        blocks.append(("missing", layout.missing))
    blocks.append(("h2", "Accuracy (paper-style table)"))
    if finals:
        header, table = paper_table(finals)
        blocks.append(
            (
                "p",
                "Held-out test accuracy (%) of each variant's final model (mean ± std over seeds); "
                "overall = mean over the benchmark columns; trace tokens = mean response length; "
                "Δ = difference to the merged variant.",
            )
        )
        blocks.append(("table", header, table, "paper-table"))
        benches, series = benchmark_intervals(finals)
        blocks.append(
            (
                "figure",
                "benchmark-intervals",
                figures.bars_with_intervals(
                    "Accuracy per benchmark, final models",
                    benches,
                    series,
                    "accuracy (%)",
                    "benchmark (or world split)",
                    arm_colours([*series, *(k.split("/")[0] for k in layout.stages)]),
                ),
                "Accuracy of each arm's final models per benchmark (seeds pooled) with its 95% interval over "
                "test items (each item's correctness averaged over seeds; mean ± 1.96 standard errors).",
            )
        )
    else:
        blocks.append(("p", "No evaluated model yet: no table."))
    blocks += suite_section(layout)
    blocks += curves_section(layout)
    if rows:
        blocks += length_section(rows, finals)
        blocks += collapse_section(rows, finals)
    diag = diagnoses(layout, finals, out, run_dir / "data")
    blocks += diagnosis_section(diag)
    if finals:
        blocks += examples_section(finals, index, diag)
    title = f"stagewise report: {run_dir.resolve().name}"
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for b in blocks:
        if b[0] == "figure":
            (fig_dir / f"{b[1]}.png").write_bytes(b[2])
    atomic_write_text(out / "report.md", render_markdown(title, blocks, "figures"))
    atomic_write_text(out / "report.html", render_html(title, blocks))
    log.info(
        "report: %s (%d figures%s)",
        out / "report.html",
        sum(b[0] == "figure" for b in blocks),
        f", {len(layout.missing)} things missing" if layout.missing else "",
    )
    return out / "report.html"
