"""`stagewise step ...`: the demo's script (recipes/tiny/staged.sh), run on a micro recipe with the demo's
stage and variant names, leaves the same run folder and the same results as `stagewise run`."""

import json
import shlex
from pathlib import Path

import pytest

from stagewise.cli import main

SCRIPT = Path(__file__).parents[2] / "recipes" / "tiny" / "staged.sh"

# The micro recipe with its perception stage on the data engine's output, so that every step of the script
# runs.
PERCEPTION_SET = {
    "world.test_size": 4,
    "model.warmstart.caption_qa": 4,
    "perception_set": {
        "families": ["perception"],
        "min_image_wrong": 0,
        "min_caption_right": 0,
        "batch_size": 8,
    },
    "stages.perception.data": {"perception_set": True, "size": 8, "instruction": None},
    "eval.size": 2,
}

# What differs between two runs of the same recipe: times, versions, event files named by host and time.
NOISE = {"wall_s", "versions", "seconds", "started", "finished", "time", "elapsed_s"}


def script_steps(recipe: Path) -> list[list[str]]:
    """The `stagewise step` lines of the script, with its recipe replaced by `recipe` and no overrides."""
    steps = []
    for line in SCRIPT.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["stagewise", "step"]:
            steps.append([str(recipe) if w == "$R" else w for w in words[1:] if w != "$@"])
    return steps


def files(run: Path) -> set[str]:
    return {
        str(p.relative_to(run))
        for p in run.rglob("*")
        if p.is_file() and not p.name.startswith((".lock", "events.out.tfevents"))
    }


def scrub(value, root: Path):
    """`value` without NOISE, with the run folder's path as RUN (the perception set's spec names it)."""
    if isinstance(value, dict):
        return {k: scrub(v, root) for k, v in value.items() if k not in NOISE}
    if isinstance(value, list):
        return [scrub(v, root) for v in value]
    return value.replace(str(root), "RUN") if isinstance(value, str) else value


def same_json(path: Path, run: Path, other: Path) -> bool:
    twin = other / path.relative_to(run)
    return scrub(json.loads(path.read_text()), run) == scrub(json.loads(twin.read_text()), other)


@pytest.mark.slow
def test_the_demo_script_step_by_step_matches_stagewise_run(tmp_path, micro_recipe):
    a = micro_recipe(tmp_path / "run", PERCEPTION_SET, file="a.yaml")
    b = micro_recipe(tmp_path / "steps", PERCEPTION_SET, file="b.yaml")
    assert main(["run", str(a)]) == 0
    steps = script_steps(b)
    assert [s[1] for s in steps] == [
        "world",
        "base",
        "perception-set",
        "stage",
        "stage",
        "stage",
        "stage",
        "eval",
        "results",
    ]
    for step in steps:
        assert main(step) == 0, step
    run, stepped = tmp_path / "run" / "micro", tmp_path / "steps" / "micro"
    assert files(run) == files(stepped)
    for name in ("results.json", "paired.json", "grid.json"):
        assert same_json(run / name, run, stepped), name
    for manifest in run.rglob("manifest.json"):
        assert same_json(manifest, run, stepped), manifest
    for items in run.rglob("items.jsonl"):
        assert items.read_text() == (stepped / items.relative_to(run)).read_text(), items
    assert (run / "results.md").read_text() == (stepped / "results.md").read_text()


def test_a_step_before_its_inputs_names_the_step_to_run(tmp_path, caplog, micro_recipe):
    recipe = micro_recipe(tmp_path / "runs", PERCEPTION_SET)
    assert main(["step", "stage", str(recipe), "--variant", "staged", "--stage", "textual"]) == 2
    assert "stagewise step world RECIPE" in caplog.text
    assert main(["step", "stage", str(recipe), "--variant", "staged", "--stage", "nope"]) == 2
    assert main(["step", "eval", str(recipe)]) == 2
    assert "not finished" in caplog.text
