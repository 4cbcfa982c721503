"""The report's per-benchmark bars with 95% intervals, every arm on one compute axis with the spread over
seeds, and entropy / clip-ratio curves: the numbers behind each plot, and the plots rendered in headless
Chromium."""

import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest
from fakerun import make_run, trainer_log, write_jsonl
from test_report import CHROMIUM, _chromium

from stagewise.analysis.runs import scan_run
from stagewise.report import write_report
from stagewise.report.build import arm_curves, benchmark_intervals, compute_axis


def _add_seed(run: Path, variant: str, reward_shift: float, flip: int) -> None:
    """seed1 of an arm: seed0's folders, its logged reward shifted, its first `flip` eval items answered
    the other way."""
    src, dst = run / variant / "seed0", run / variant / "seed1"
    shutil.copytree(src, dst)
    for manifest in dst.glob("*/manifest.json"):
        m = json.loads(manifest.read_text())
        if m.get("started_from", "").startswith(f"{variant}/seed0/"):  # keep the chain inside seed1
            m["started_from"] = m["started_from"].replace("/seed0/", "/seed1/")
            manifest.write_text(json.dumps(m))
    for log in dst.glob("*/trainer_log.jsonl"):
        write_jsonl(log, [{**r, "reward": r["reward"] + reward_shift} for r in trainer_log(10, 40)])
    for items in dst.glob("eval/*/items.jsonl"):
        rows = [json.loads(line) for line in items.read_text().splitlines()]
        for r in rows[:flip]:
            r["correct"] = not r["correct"]
        write_jsonl(items, rows)


@pytest.fixture(scope="module")
def run(world_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("plots") / "run"
    make_run(world_dir, run)
    _add_seed(run, "staged", 0.4, flip=6)
    _add_seed(run, "merged", 0.2, flip=0)
    return run


def test_benchmark_intervals_are_over_items_with_seeds_averaged_within_each():
    def rows(variant, seed, bench, correct):
        return [
            {"variant": variant, "seed": seed, "benchmark": bench, "id": f"{bench}-{i}", "correct": c}
            for i, c in enumerate(correct)
        ]

    finals = (
        rows("staged", 0, "visual", [1, 1, 0, 0])
        + rows("staged", 1, "visual", [1, 0, 0, 0])
        + rows("merged", 0, "visual", [1, 1, 1, 1])
        + rows("base", None, "perception", [1, 0])
    )
    benches, series = benchmark_intervals(finals)
    assert benches == ["perception", "visual"]
    assert series["merged"] == [None, (100.0, 100.0, 100.0)]  # no spread over items: no width
    est, lo, hi = series["staged"][1]
    item_means = [1.0, 0.5, 0.0, 0.0]  # seeds averaged within each item
    half = 1.959964 * 0.4787135538781691 / 2  # stdev of the item means / sqrt(4 items)
    assert est == pytest.approx(37.5) and lo == pytest.approx(100 * max(0, 0.375 - half))
    assert hi == pytest.approx(100 * (0.375 + half)) and sum(item_means) / 4 == 0.375
    assert series["base"][0] == pytest.approx(
        (50.0, 0.0, 100 * min(1, 0.5 + 1.959964 * math.sqrt(0.5) / math.sqrt(2)))
    )


def test_compute_axis_lays_stages_end_to_end_in_completions(run):
    layout = scan_run(run)
    axis = compute_axis(layout.stages["staged/seed0"], [])
    assert [(stage, offset) for stage, offset, _ in axis] == [
        ("perception", 0),
        ("textual", 40),
        ("visual", 80),
    ]
    # 40 completions over 10 logged steps = 4 per step: textual's step 2 ends at 40 + 8
    assert [r["x"] for r in axis[1][2]][:2] == [48.0, 56.0]
    curves = arm_curves(layout, [])
    reward = curves["staged"]["reward"]
    assert (
        reward["seeds"] == 2
        and reward["x"][0] == pytest.approx(8.0)
        and reward["x"][-1] == pytest.approx(120.0)
    )
    # seed1 logs seed0's reward + 0.4 everywhere, so the band is 0.4 wide and the mean half way
    assert all(h - lo == pytest.approx(0.4) for lo, h in zip(reward["low"], reward["high"], strict=True))
    assert all(m - lo == pytest.approx(0.2) for lo, m in zip(reward["low"], reward["mean"], strict=True))
    assert list(curves) == ["merged", "staged"]


def test_report_shows_the_three_new_plots(run):
    page = write_report(run).read_text()
    for fig in ("benchmark-intervals", "arms-on-compute", "stability-staged-seed0", "stability-merged-seed0"):
        assert f"id='fig-{fig}'" in page, fig
        assert (run / "report" / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG"
    assert "95% interval over test items" in page and "completions generated" in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_new_plots_render_in_headless_chromium(run, tmp_path):
    import numpy as np
    from PIL import Image

    page = write_report(run).read_text()
    dom = _chromium("--dump-dom", (run / "report" / "report.html").as_uri()).stdout
    for fig in ("benchmark-intervals", "arms-on-compute", "stability-staged-seed0"):
        assert f'id="fig-{fig}"' in dom, fig
    # The three figures alone on a page of the report's own markup, screenshotted.
    figs = re.findall(
        r"<figure class='figure' id='fig-(?:benchmark-intervals|arms-on-compute|stability-staged-seed0)'"
        r".*?</figure>",
        page,
        flags=re.S,
    )
    assert len(figs) == 3
    alone = tmp_path / "plots.html"
    alone.write_text(page.split("<body>")[0] + "<body>" + "".join(figs) + "</body></html>")
    shot = Path(tmp_path / "plots.png")
    _chromium(f"--screenshot={shot}", "--window-size=1280,1500", alone.as_uri())
    if os.environ.get("STAGEWISE_KEEP_SCREENSHOT"):  # for a person to look at
        shutil.copy(shot, os.environ["STAGEWISE_KEEP_SCREENSHOT"])
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert px.shape[:2] == (1500, 1280)
    rows_drawn = np.flatnonzero((px < 200).any(axis=(1, 2)))
    assert rows_drawn.size > 600  # three plots stacked, not a blank or broken page
    blue = (px[..., 2] > 150) & (px[..., 0] < 80)  # matplotlib's blue (first arm / stage)
    red = (px[..., 0] > 180) & (px[..., 1] < 80) & (px[..., 2] < 80)  # its red (second)
    assert blue.sum() > 500 and red.sum() > 500
