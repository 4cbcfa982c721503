"""Results stay tied to their recipe (a changed recipe stops before any work, --redo/--fresh), and a run
folder has one writer (an OS lock: a second writer is refused naming the holder, or waits)."""

import json
import multiprocessing
import os
import time

import pytest

from stagewise.cli import main
from stagewise.config import load_recipe
from stagewise.lock import FolderLocked, folder_lock
from stagewise.train import provenance
from stagewise.train.provenance import RecipeChanged, check, planned_folders


@pytest.fixture
def recipe_file(tmp_path, micro_recipe):
    """The micro recipe with two stages of a few steps and their default instruction."""
    trainer = {"prompts_per_step": 2, "group_size": 2}
    return micro_recipe(
        tmp_path / "runs",
        {
            "name": "prov",
            "stages": [
                {
                    "name": "perception",
                    "capability": "perception",
                    "data": {"families": ["perception"], "size": 8},
                    "trainer": {"steps": 4, **trainer},
                },
                {
                    "name": "visual",
                    "capability": "visual_reasoning",
                    "data": {"families": ["visual"], "size": 8},
                    "trainer": {"steps": 2, **trainer},
                },
            ],
            "eval": {"size": 3},
        },
        file="prov.yaml",
    )


def _pretend_done(recipe, seeds=(0,)):
    """Manifests as a finished run of `recipe` leaves them (the training itself is tested elsewhere)."""
    for folder, p in planned_folders(recipe, list(seeds)).items():
        provenance.mark_started(recipe.run_dir / folder, p)
        m = json.loads((recipe.run_dir / folder / "manifest.json").read_text())
        (recipe.run_dir / folder / "manifest.json").write_text(json.dumps({**m, "status": "done"}))


def test_every_folder_a_run_writes_is_planned(recipe_file):
    planned = planned_folders(load_recipe(recipe_file), [0, 1])
    assert list(planned)[:3] == ["data", "init", "base"]
    assert {
        "staged/seed0/perception",
        "staged/seed1/visual",
        "merged/seed0/merged",
        "eval/base",
        "staged/seed0/eval/perception",
        "merged/seed1/eval/merged",
    } <= set(planned)
    # a stage starts from the previous one: its hash is in the next one's fields
    assert planned["staged/seed0/visual"].fields["start"] == planned["staged/seed0/perception"].hash
    assert "staged/seed0/perception" in planned["staged/seed0/visual"].after


def test_an_unchanged_recipe_reuses_everything(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    assert check(recipe.run_dir, planned_folders(load_recipe(recipe_file), [0])) == []


def test_settings_that_do_not_change_results_are_not_changes(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    other = load_recipe(
        recipe_file,
        ["threads=1", "stages.perception.trainer.logging_steps=1", "stages.perception.trainer.save_steps=2"],
    )
    assert check(recipe.run_dir, planned_folders(other, [0])) == []


def test_a_changed_stage_stops_the_rerun_listing_each_changed_field(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    changed = load_recipe(
        recipe_file, ["stages.perception.trainer.steps=8", "stages.perception.trainer.learning_rate=0.01"]
    )
    with pytest.raises(RecipeChanged) as e:
        check(recipe.run_dir, planned_folders(changed, [0]))
    msg = str(e.value)
    assert "staged/seed0/perception: stage.perception.trainer.learning_rate: 1e-06 -> 0.01" in msg
    assert "stage.perception.trainer.steps: 4 -> 8" in msg
    assert "staged/seed0/visual: start: its starting model changed" in msg  # downstream of the change
    assert "merged/seed0/merged" in msg  # the pooled arm trains on the perception stage too
    assert "eval/base" not in msg and "--redo merged perception" in msg


def test_redo_names_the_steps_and_everything_made_from_them(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    changed = load_recipe(recipe_file, ["stages.perception.trainer.steps=8"])
    planned = planned_folders(changed, [0])
    with pytest.raises(RecipeChanged, match="merged/seed0/merged"):  # perception alone does not cover merged
        check(recipe.run_dir, planned, ["perception"])
    redo = check(recipe.run_dir, planned, ["perception", "merged"])
    assert set(redo) == {
        "staged/seed0/perception",
        "staged/seed0/visual",
        "staged/seed0/eval/perception",
        "staged/seed0/eval/visual",
        "merged/seed0/merged",
        "merged/seed0/eval/merged",
    }
    with pytest.raises(RecipeChanged, match="no such step"):
        check(recipe.run_dir, planned, ["percepton"])


def test_a_changed_world_or_eval_is_a_change_of_the_folders_made_from_it(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    with pytest.raises(RecipeChanged, match=r"data: world.train_size: 16 -> 20"):
        check(recipe.run_dir, planned_folders(load_recipe(recipe_file, ["world.train_size=20"]), [0]))
    with pytest.raises(RecipeChanged, match=r"eval/base: eval.size: 3 -> 4") as e:
        check(recipe.run_dir, planned_folders(load_recipe(recipe_file, ["eval.size=4"]), [0]))
    assert "staged/seed0/perception:" not in str(e.value)


def test_a_started_stage_is_checked_too(recipe_file):
    """A killed stage's checkpoints were made with the old settings: resuming them under new ones is a
    change."""
    recipe = load_recipe(recipe_file)
    planned = planned_folders(recipe, [0])
    provenance.mark_started(recipe.run_dir / "data", planned["data"])
    with pytest.raises(RecipeChanged, match="data: world.seed: 0 -> 1"):
        check(recipe.run_dir, planned_folders(load_recipe(recipe_file, ["world.seed=1"]), [0]))


def test_cli_refuses_a_changed_recipe_before_any_work_and_redo_moves_the_old_folder_aside(
    recipe_file, caplog
):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    (recipe.run_dir / "recipe.yaml").write_text("the old recipe\n")
    before = {p: p.stat().st_mtime_ns for p in recipe.run_dir.rglob("*")}
    assert main(["run", str(recipe_file), "stages.visual.trainer.steps=3"]) == 2
    assert "stage.visual.trainer.steps: 2 -> 3" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in recipe.run_dir.rglob("*") if p.name != ".lock"} == {
        p: t for p, t in before.items() if p.name != ".lock"
    }  # nothing written, recipe.yaml included

    # --redo: the stale folders move to superseded/ (nothing computed is deleted); the rerun would redo them
    planned = planned_folders(load_recipe(recipe_file, ["stages.visual.trainer.steps=3"]), [0])
    redo = check(recipe.run_dir, planned, ["visual", "merged"])
    dest = provenance.supersede(recipe.run_dir, redo)
    assert (dest / "staged/seed0/visual/manifest.json").exists()
    assert not (recipe.run_dir / "staged/seed0/visual").exists()
    assert (recipe.run_dir / "staged/seed0/perception/manifest.json").exists()
    assert check(recipe.run_dir, planned) == []


def test_fresh_moves_everything_aside(recipe_file):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    dest = provenance.fresh(recipe.run_dir)
    assert sorted(p.name for p in recipe.run_dir.iterdir()) == ["superseded"]
    assert (dest / "base" / "manifest.json").exists()


def test_a_moved_run_folder_is_still_the_same_run(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file)
    _pretend_done(recipe)
    moved = tmp_path / "elsewhere"
    os.rename(tmp_path / "runs", moved)
    again = load_recipe(recipe_file, [f"output_dir={moved}"])
    assert check(again.run_dir, planned_folders(again, [0])) == []


# ------------------------------------------------------------------------------------------- the lock
def _hold(folder, ready, release):
    with folder_lock(folder, "run test"):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        t0 = time.time()
        with pytest.raises(FolderLocked, match=f"pid {holder.pid} .*one writer"):
            with folder_lock(tmp_path, "run"):
                pass
        assert time.time() - t0 < 1  # at once, not after a timeout
    finally:
        release.set()
        holder.join(30)
    with folder_lock(tmp_path, "run"):  # released when the holder ends
        pass


def test_a_killed_holder_releases_the_lock_and_wait_waits(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(60)
    killer = ctx.Process(target=_kill_later, args=(holder.pid, 0.5))
    killer.start()
    t0 = time.time()
    with folder_lock(tmp_path, "run", wait=True):  # blocks until the kernel drops the dead holder's lock
        waited = time.time() - t0
    holder.join(10)
    killer.join(10)
    assert waited >= 0.4


def _kill_later(pid, delay):
    time.sleep(delay)
    os.kill(pid, 9)


def test_cli_run_into_a_locked_folder_is_refused(recipe_file, tmp_path, caplog):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path / "runs" / "prov", ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        assert main(["run", str(recipe_file)]) == 2
        assert f"pid {holder.pid}" in caplog.text
        assert not (tmp_path / "runs" / "prov" / "data").exists()  # refused before any work
        assert (
            main(
                [
                    "eval",
                    "score",
                    str(tmp_path / "p.jsonl"),
                    "--bench",
                    "world",
                    "--out",
                    str(tmp_path / "runs" / "prov" / "eval" / "x"),
                ]
            )
            == 2
        )
        assert caplog.text.count(f"pid {holder.pid}") == 2
    finally:
        release.set()
        holder.join(30)
