"""`stagewise grid` on a micro budget: every arm x 2 seeds, matched compute, one summary; a rerun redoes
nothing."""

import json

import pytest

from stagewise.cli import main


def micro_grid(model) -> dict:
    """The micro recipe from a model folder: two stages, every arm of the paper's grid, two seeds."""
    trainer = {"prompts_per_step": 2, "group_size": 2, "max_completion_length": 6}
    return {
        "name": "micro-grid",
        "seeds": [0, 1],
        "world": {"train_size": 12, "test_size": 3},
        "model": {"source": str(model)},
        "stages": [
            {
                "name": "perception",
                "capability": "perception",
                "data": {"families": ["perception"], "size": 4, "instruction": None},
                "trainer": {"steps": 2, **trainer},
            },
            {
                "name": "visual",
                "capability": "visual_reasoning",
                "data": {"families": ["visual"], "size": 4, "instruction": None},
                "trainer": {"steps": 1, **trainer},
            },
        ],
        "variants": {
            "staged": {},
            "merged": {"kind": "merged"},
            "caption_sft": {"kind": "caption_sft"},
            "reversed": {"order": ["visual", "perception"]},
            "difficulty": {"kind": "difficulty"},
            "capability_difficulty": {"kind": "capability_difficulty"},
        },
        "difficulty": {"k": 2, "max_new_tokens": 6},
        "eval": {
            "families": ["perception", "visual"],
            "size": 3,
            "batch_size": 6,
            "max_new_tokens": 6,
            "after_each_stage": False,
        },
    }


@pytest.mark.slow
def test_grid_runs_every_arm_for_every_seed_at_matched_compute(tmp_path, tiny_model_dir, micro_recipe):
    recipe = micro_recipe(tmp_path / "runs", micro_grid(tiny_model_dir), file="grid.yaml")
    assert main(["grid", str(recipe)]) == 0
    run = tmp_path / "runs" / "micro-grid"
    grid = json.loads((run / "grid.json").read_text())
    arms = ["staged", "merged", "caption_sft", "reversed", "difficulty", "capability_difficulty"]
    assert list(grid["variants"]) == arms
    for name, v in grid["variants"].items():
        assert v["seeds"] == [0, 1]
        completions = v["compute"]["completions_generated"]["values"]
        # caption SFT generates nothing in its first stage; every RL arm generates the same number of
        # completions
        assert completions == ([4, 4] if name == "caption_sft" else [12, 12]), name
        assert v["vs_merged"] is not None
    merged = json.loads((run / "merged" / "seed1" / "merged" / "manifest.json").read_text())
    assert merged["plan"]["sources"] == ["perception", "visual"] and merged["seed"] == 1
    assert merged["plan"]["trainer"]["steps"] == 3 and merged["plan"]["freeze_vision"] is True
    cap = json.loads((run / "caption_sft" / "seed0" / "caption_sft" / "manifest.json").read_text())
    assert cap["plan"]["method"] == "sft" and cap["compute"]["sequences_seen"] == 2 * 4
    rev = json.loads((run / "reversed" / "seed0" / "perception" / "manifest.json").read_text())
    assert rev["started_from"] == "reversed/seed0/visual"  # relative to the run folder, which may move
    cur = json.loads((run / "difficulty" / "seed0" / "difficulty" / "manifest.json").read_text())
    assert cur["plan"]["trainer"]["shuffle"] is False
    rates = [json.loads(x) for x in (run / "difficulty" / "pass_rates.jsonl").read_text().splitlines()]
    assert len(rates) == 8 and {r["k"] for r in rates} == {
        2
    }  # each item estimated once, shared by both curricula
    assert "± " in (run / "grid.md").read_text()

    stamps = {
        p: p.stat().st_mtime_ns
        for p in run.rglob("*")
        if p.is_file()
        and "grid." not in p.name
        and "results." not in p.name
        and p.name not in ("recipe.yaml", "paired.json", ".lock")
    }  # tables: rewritten
    assert main(["grid", str(recipe)]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}
