"""The report's suite table: every evaluated checkpoint in the paper's layout, and staged - merged per
seed."""

import json

from fakerun import make_run

from stagewise.analysis.runs import scan_run
from stagewise.report.build import suite_section

VISUAL_MATH = {"mathvista": 40.0, "mathvision": 20.0, "mathverse-vision_intensive": 30.0, "wemath": 10.0}


def _metrics(name: str, value: float) -> dict:
    """Each benchmark's metrics.json with its headline where stagewise.eval.suites.headline reads it."""
    if name == "wemath":
        return {"score_strict": value}
    if name == "mathvista":
        return {"average": {"accuracy": value}}
    return {"overall": {"accuracy": value}}


def test_every_checkpoint_in_the_paper_layout_with_staged_minus_merged(world_dir, tmp_path):
    run = tmp_path / "run"
    make_run(world_dir, run)
    finals = {
        "base": (run / "eval" / "base", 0.0),
        "staged": (run / "staged/seed0/eval/visual", 6.0),
        "merged": (run / "merged/seed0/eval/merged", 2.0),
    }
    for folder, bump in finals.values():
        (folder / "summary.json").write_text(
            json.dumps(
                {"families": {"perception": {"accuracy": 0.5 + bump / 100}, "visual": {"accuracy": 0.7}}}
            )
        )
        for name, value in VISUAL_MATH.items():
            (folder / name).mkdir()
            (folder / name / "metrics.json").write_text(
                json.dumps(_metrics(name.split("-")[0], value + bump))
            )
    (_, title), _, (_, header, rows, _) = suite_section(scan_run(run))
    assert title == "Benchmark suite (paper layout)"
    assert header[:3] == ["model", "perception", "visual"] and "Visual-Math AVG" in header
    table = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert table["base"]["Visual-Math AVG"] == "25.00" and table["base"]["perception"] == "50.00"
    assert table["staged/seed0/visual"]["mathvista"] == "46.00"
    assert table["staged/seed0/perception"]["mathvista"] == "n/a"  # not scored on benchmarks
    diff = table["staged/seed0/visual - merged/seed0/merged"]
    assert diff["Visual-Math AVG"] == "+4.00" and diff["perception"] == "+4.00" and diff["visual"] == "+0.00"
    assert diff["Perception AVG"] == "n/a"  # no perception benchmark was scored
