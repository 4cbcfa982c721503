"""The grid summary: mean +- std over seeds, difference to merged, compute from the stage manifests."""

import json
import statistics

import pytest

from stagewise.config import Recipe
from stagewise.train.summary import grid_summary, grid_table, write_grid_summary


def _summary(acc: dict[str, float], tokens: float) -> dict:
    fams = {f: {"accuracy": a, "format_rate": 1.0, "mean_response_tokens": tokens} for f, a in acc.items()}
    overall = sum(acc.values()) / len(acc)
    return {
        "families": fams,
        "overall": {"accuracy": overall, "format_rate": 1.0, "mean_response_tokens": tokens},
    }


def test_grid_summary_means_stds_and_differences_to_merged(tmp_path):
    recipe = Recipe(name="g", output_dir=str(tmp_path))
    recipe.eval.families = ["perception", "visual"]
    summaries = {
        "base": _summary({"perception": 0.2, "visual": 0.3}, 40),
        "staged/seed0/visual": _summary({"perception": 0.5, "visual": 0.4}, 30),
        "staged/seed1/visual": _summary({"perception": 0.7, "visual": 0.6}, 34),
        "merged/seed0/merged": _summary({"perception": 0.4, "visual": 0.4}, 40),
        "merged/seed1/merged": _summary({"perception": 0.4, "visual": 0.5}, 40),
    }
    finals = {
        ("staged", 0): "staged/seed0/visual",
        ("staged", 1): "staged/seed1/visual",
        ("merged", 0): "merged/seed0/merged",
        ("merged", 1): "merged/seed1/merged",
    }
    for variant, stage, tokens in (
        ("staged", "visual", 100),
        ("staged", "perception", 50),
        ("merged", "merged", 150),
    ):
        for seed in (0, 1):
            d = tmp_path / "g" / variant / f"seed{seed}" / stage
            d.mkdir(parents=True)
            (d / "manifest.json").write_text(
                json.dumps(
                    {
                        "compute": {
                            "prompts_seen": 8,
                            "completions_generated": 40,
                            "tokens_generated": tokens + seed,
                            "wall_s": 2.0,
                        }
                    }
                )
            )
    grid = grid_summary(recipe, summaries, finals)
    staged, merged = grid["variants"]["staged"], grid["variants"]["merged"]
    assert staged["accuracy"]["perception"]["mean"] == pytest.approx(60.0)
    assert staged["accuracy"]["perception"]["std"] == pytest.approx(statistics.stdev([50.0, 70.0]))
    assert staged["vs_merged"]["perception"] == pytest.approx(20.0)
    assert staged["vs_merged"]["overall"] == pytest.approx(55.0 - 42.5)
    assert staged["vs_merged"]["trace_tokens_pct"] == pytest.approx(100 * (32 / 40 - 1))
    assert merged["vs_merged"]["overall"] == 0
    assert staged["compute"]["completions_generated"]["mean"] == 80  # summed over the two stages
    assert staged["compute"]["tokens_generated"]["values"] == [150, 152]
    assert merged["compute"]["completions_generated"]["mean"] == 40
    assert grid["base"]["perception"] == pytest.approx(20.0)

    header, rows = grid_table(grid)
    assert rows[0][0] == "base" and rows[1][0] == "staged"
    assert rows[1][header.index("perception acc")] == "60.0 ± 14.1"
    assert rows[1][header.index("Δ trace vs merged")] == "-20.0%"
    write_grid_summary(tmp_path, grid)
    assert "60.0 ± 14.1" in (tmp_path / "grid.md").read_text()
    assert json.loads((tmp_path / "grid.json").read_text())["variants"]["staged"]["seeds"] == [0, 1]


def test_without_a_merged_arm_there_is_no_difference_column_to_fill(tmp_path):
    recipe = Recipe(name="g", output_dir=str(tmp_path))
    recipe.eval.families = ["visual"]
    grid = grid_summary(
        recipe, {"staged/seed0/v": _summary({"visual": 0.5}, 10)}, {("staged", 0): "staged/seed0/v"}
    )
    assert grid["variants"]["staged"]["vs_merged"] is None and grid["base"] is None
    header, rows = grid_table(grid)
    assert rows[0][0] == "staged" and rows[0][header.index("Δ overall vs merged")] == ""


def test_versus_merged_pairs_each_seed_with_the_same_seeds_merged_on_the_same_items():
    """Seed 0's staged is 2 tokens shorter than seed 0's merged on every item, seed 1's 4 shorter; items
    differ in length by tens of tokens, which the pairing cancels; accuracy pairs likewise."""
    from stagewise.train.summary import results_table, versus_merged, versus_merged_table

    def rows(lengths, right, family="visual"):
        return [
            {"id": f"i{i}", "family": family, "correct": c, "response_tokens": n}
            for i, (n, c) in enumerate(zip(lengths, right, strict=True))
        ]

    lengths = [10, 30, 50, 70]
    items = {
        "merged/seed0/merged": rows(lengths, [1, 0, 0, 1]),
        "merged/seed1/merged": rows(lengths, [1, 1, 0, 0]),
        "staged/seed0/visual": rows([n - 2 for n in lengths], [1, 1, 0, 1]),
        "staged/seed1/visual": rows([n - 4 for n in lengths], [1, 1, 1, 0]),
    }
    finals = {
        ("staged", 0): "staged/seed0/visual",
        ("staged", 1): "staged/seed1/visual",
        ("merged", 0): "merged/seed0/merged",
        ("merged", 1): "merged/seed1/merged",
    }
    vs = versus_merged(items, finals, ["visual"])
    assert list(vs) == ["staged"] and vs["staged"]["seeds"] == [0, 1]
    trace = vs["staged"]["trace"]
    assert trace["n"] == 8 and trace["delta"] == pytest.approx(-3.0)
    assert trace["per_seed"] == {0: pytest.approx(-2.0), 1: pytest.approx(-4.0)}
    assert trace["ci95"] == pytest.approx(1.96 * statistics.stdev([-2] * 4 + [-4] * 4) / 8**0.5)
    assert trace["pct"] == pytest.approx(-3.0 / 40 * 100) and trace["significant"]
    acc = vs["staged"]["accuracy"]["overall"]
    assert acc["delta"] == pytest.approx(100 * 2 / 8) and acc["gained"] == 2 and acc["lost"] == 0
    header, table = versus_merged_table(vs, ["visual"])
    assert table[0][header.index("trace Δ tokens (%)")].startswith("-3.0 ± ")
    # results.md's trace column carries the 95% interval of each model's mean when its items are given
    summary = {
        "families": {"visual": {"accuracy": 0.5}},
        "overall": {"accuracy": 0.5, "format_rate": 1.0, "mean_response_tokens": 40.0},
    }
    header, table = results_table({"merged/seed0/merged": summary}, ["visual"], items)
    ci = 1.96 * statistics.stdev(lengths) / 2
    assert table[0][header.index("trace tokens")] == f"40.0 ± {ci:.1f}"
