"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.lines import Line2D  # noqa: E402

# Trainer-log curves, panel title -> (log keys tried in order, y-axis label).
CURVES: dict[str, tuple[tuple[str, ...], str]] = {
    "reward": (("reward",), "mean reward (0.9 acc + 0.1 format)"),
    "accuracy reward": (("rewards/accuracy_reward/mean",), "accuracy reward (fraction correct)"),
    "response length": (("completions/mean_length",), "mean completion length (tokens)"),
    "KL to start of stage": (("kl",), "KL (nats per token)"),
}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _value(row: dict, keys: tuple[str, ...]) -> float | None:
    return next((row[k] for k in keys if isinstance(row.get(k), (int, float))), None)


def training_curves(title: str, stages: list[tuple[str, list[dict]]]) -> bytes | None:
    """One run's stages laid end to end on one step axis (a dotted line where a stage starts), four panels.
    `stages` = [(stage name, trainer_log rows)]; None when no stage logged any of the curves."""
    if not any(_value(r, keys) is not None for _, log in stages for r in log for keys, _ in CURVES.values()):
        return None
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4.2 * len(CURVES), 3.2))
    offset = 0
    for i, (stage, log) in enumerate(stages):
        steps = [r["step"] for r in log if "step" in r]
        for ax, (keys, _) in zip(axes, CURVES.values(), strict=True):
            pts = [
                (offset + r["step"], _value(r, keys))
                for r in log
                if "step" in r and _value(r, keys) is not None
            ]
            if pts:
                ax.plot(
                    *zip(*pts, strict=True), marker="o", ms=3, color=PALETTE[i % len(PALETTE)], label=stage
                )
            if offset:
                ax.axvline(offset, color="grey", ls=":", lw=1)
        offset += max(steps, default=0)
    for ax, (name, (_, ylabel)) in zip(axes, CURVES.items(), strict=True):
        ax.set_title(name)
        ax.set_xlabel("optimizer step (stages in order)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(title="stage", fontsize=8)
    fig.suptitle(title, y=1.04)
    fig.subplots_adjust(wspace=0.4)  # room for each panel's y label
    return _png(fig)


def grouped_bars(
    title: str, groups: list[str], series: dict[str, list[float | None]], ylabel: str, xlabel: str
) -> bytes:
    """Bars per group (x) for each series (colour); missing values are left out."""
    fig, ax = plt.subplots(
        figsize=(min(16.0, max(5.0, 1.3 * len(groups) * max(1, len(series)) ** 0.5 + 2)), 3.6)
    )
    labelled = len(groups) * len(series) <= 40  # value labels on a crowded plot overlap
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        pts = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if pts:
            bars = ax.bar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                width=width,
                label=name,
                color=PALETTE[j % len(PALETTE)],
            )
            if labelled:
                ax.bar_label(bars, fmt="%.1f", fontsize=7)
    tilt = len(groups) > 4 or max((len(g) for g in groups), default=0) > 14  # long labels would overlap
    ax.set_xticks(range(len(groups)), groups, rotation=20 if tilt else 0, ha="right" if tilt else "center")
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def length_vs_accuracy(points: list[dict]) -> bytes:
    """Mean response length against accuracy per checkpoint, one line per variant/seed in stage order."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    base = [p for p in points if p["variant"] == "base"]
    lines: dict[str, list[dict]] = {}
    for p in points:
        if p["variant"] != "base":
            lines.setdefault(f"{p['variant']}/seed{p['seed']}", []).append(p)
    for p in base:
        ax.plot(
            p["response_tokens"], 100 * p["accuracy"], marker="s", ms=8, color="black", ls="", label="base"
        )
        ax.annotate(
            "base",
            (p["response_tokens"], 100 * p["accuracy"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 3),
        )
    for j, (name, pts) in enumerate(lines.items()):
        pts = base + sorted(pts, key=lambda p: p["position"])  # every variant starts from the base
        ax.plot(
            [p["response_tokens"] for p in pts],
            [100 * p["accuracy"] for p in pts],
            marker="o",
            color=PALETTE[j % len(PALETTE)],
            label=name,
        )
        for p in pts[len(base) :]:
            ax.annotate(
                p["stage"],
                (p["response_tokens"], 100 * p["accuracy"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 3),
            )
    ax.set_xlabel("mean response length (tokens)")
    ax.set_ylabel("accuracy, all test items (%)")
    ax.set_title("Trace length vs accuracy across checkpoints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def bars_with_intervals(
    title: str,
    groups: list[str],
    series: dict[str, list[tuple[float, float, float] | None]],
    ylabel: str,
    xlabel: str,
    colours: dict[str, str] | None = None,
) -> bytes:
    """Bars per group (x) for each series (colour), each with its interval as an error bar: values are
    (estimate, low, high); None leaves a bar out."""
    fig, ax = plt.subplots(
        figsize=(min(16.0, max(5.5, 1.1 * len(groups) * max(1, len(series)) ** 0.5 + 2.5)), 3.8)
    )
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        pts = [(i + (j - (len(series) - 1) / 2) * width, v) for i, v in enumerate(values) if v is not None]
        if not pts:
            continue
        xs, est = [p[0] for p in pts], [p[1][0] for p in pts]
        err = [[p[1][0] - p[1][1] for p in pts], [p[1][2] - p[1][0] for p in pts]]
        bars = ax.bar(
            xs,
            est,
            width=width,
            label=name,
            color=(colours or {}).get(name, PALETTE[j % len(PALETTE)]),
            alpha=0.85,
        )
        ax.errorbar(xs, est, yerr=err, fmt="none", ecolor="black", elinewidth=1, capsize=3)
        if len(groups) * len(series) <= 30:
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2, label_type="center", color="white")
    tilt = len(groups) > 5 or max((len(g) for g in groups), default=0) > 14
    ax.set_xticks(range(len(groups)), groups, rotation=20 if tilt else 0, ha="right" if tilt else "center")
    ax.set_ylim(0, 105)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(series)))
    return _png(fig)


def arms_on_compute(
    title: str,
    panels: dict[str, str],
    arms: dict[str, dict[str, dict]],
    colours: dict[str, str] | None = None,
) -> bytes:
    """Every arm on one x axis (completions generated), one panel per metric: the smoothed mean over seeds as
    a line and the spread over seeds (min to max) as a band; raw logged points faint behind. `colours`: arm ->
    colour, so that an arm has one colour on every plot of the page.
    `arms` = {arm: {metric: {"x": grid, "mean", "low", "high", "raw": [(x, y)], "seeds": n}}}."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (metric, ylabel) in zip(axes[0], panels.items(), strict=True):
        for j, (arm, curves) in enumerate(arms.items()):
            c = curves.get(metric)
            if not c or not c["x"]:
                continue
            colour = (colours or {}).get(arm, PALETTE[j % len(PALETTE)])
            if c["raw"]:
                ax.plot(*zip(*c["raw"], strict=True), ls="", marker=".", ms=2.5, alpha=0.25, color=colour)
            ax.plot(
                c["x"],
                c["mean"],
                color=colour,
                lw=2,
                label=f"{arm} ({c['seeds']} seed{'s' * (c['seeds'] > 1)})",
            )
            if c["seeds"] > 1:
                ax.fill_between(c["x"], c["low"], c["high"], color=colour, alpha=0.2, lw=0)
        ax.set_title(metric)
        ax.set_xlabel("completions generated (all stages)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, y=1.03)
    fig.subplots_adjust(wspace=0.35)
    return _png(fig)


# Optimisation-health curves: panel -> ((log key, line style label), ...), y label.
STABILITY: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "policy entropy": ((("entropy", "mean"),), "entropy (nats per token)"),
    "clip ratio": (
        (
            ("clip_ratio/region_mean", "region"),
            ("clip_ratio/low_mean", "low"),
            ("clip_ratio/high_mean", "high"),
        ),
        "share of tokens clipped",
    ),
}
_STYLES = ("-", "--", ":")


def stability_curves(title: str, stages: list[tuple[str, list[dict]]]) -> bytes | None:
    """Entropy and clip ratio of one run's stages laid end to end (as `training_curves`): where GRPO
    instability shows first (entropy collapsing or exploding, more and more tokens clipped). None when no
    stage logged them."""
    keys = [k for spec, _ in STABILITY.values() for k, _ in spec]
    if not any(isinstance(r.get(k), (int, float)) for _, log in stages for r in log for k in keys):
        return None
    fig, axes = plt.subplots(1, len(STABILITY), figsize=(5.2 * len(STABILITY), 3.3))
    offset = 0
    for i, (stage, log) in enumerate(stages):
        steps = [r["step"] for r in log if "step" in r]
        for ax, (spec, _) in zip(axes, STABILITY.values(), strict=True):
            for (key, _), ls in zip(spec, _STYLES, strict=False):
                pts = [
                    (offset + r["step"], r[key])
                    for r in log
                    if "step" in r and isinstance(r.get(key), (int, float))
                ]
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        ls=ls,
                        marker="o",
                        ms=2.5,
                        color=PALETTE[i % len(PALETTE)],
                        label=stage if len(spec) == 1 else None,
                    )
            if offset:
                ax.axvline(offset, color="grey", ls=":", lw=1)
        offset += max(steps, default=0)
    for ax, (name, (_, ylabel)) in zip(axes, STABILITY.items(), strict=True):
        ax.set_title(name)
        ax.set_xlabel("optimizer step (stages in order)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    # Colour = stage (legend of the first panel), line style = which clip ratio (a grey key of its own).
    axes[0].legend(title="stage", fontsize=7)
    for ax, (spec, _) in zip(axes, STABILITY.values(), strict=True):
        if len(spec) > 1:
            ax.legend(
                handles=[
                    Line2D([], [], color="grey", ls=ls, label=label)
                    for (_, label), ls in zip(spec, _STYLES, strict=False)
                ],
                fontsize=7,
            )
    fig.suptitle(title, y=1.04)
    fig.subplots_adjust(wspace=0.3)
    return _png(fig)
