"""Training metrics go to TensorBoard by default (into the stage folder), to W&B/trackio when chosen, and
training goes on without a tracker whose package is missing."""

import importlib.util
import logging

import pytest
import torch

from stagewise.config import RecipeError, TrainerConfig, load_recipe
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.models.load import load_model_and_processor
from stagewise.train.common import report_targets
from stagewise.train.grpo import grpo_config, run_grpo


def test_report_to_maps_onto_trl_and_skips_missing_packages(monkeypatch, caplog, tmp_path):
    assert report_targets("none") == "none"
    cfg = grpo_config(TrainerConfig(), tmp_path / "staged" / "seed0" / "visual", seed=0)
    assert cfg.report_to == (["tensorboard"] if importlib.util.find_spec("tensorboard") else "none")
    assert cfg.run_name == "staged/seed0/visual"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("wandb", "tensorboard") else real(name, *a),
    )
    with caplog.at_level(logging.WARNING):
        assert report_targets("tensorboard, wandb") == "none"
    assert "the wandb package is not installed" in caplog.text


def test_unknown_tracker_is_a_recipe_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "stages:\n  - name: p\n    data: {families: [perception]}\n    trainer: {report_to: tensorbord}\n"
    )
    with pytest.raises(RecipeError, match=r"stages\[0\].trainer.report_to: unknown tracker 'tensorbord'"):
        load_recipe(recipe)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed")
def test_grpo_stage_writes_reward_parts_and_lengths_to_tensorboard(tiny_model_dir, world_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    rows = to_trl_rows(load_rows(world_dir / "perception" / "train", limit=4), instruction=None)
    cfg = TrainerConfig(steps=1, prompts_per_step=2, group_size=2, max_completion_length=6, logging_steps=1)
    out = tmp_path / "stage"
    run_grpo(model, processor, to_dataset(rows), out, cfg)
    events = list((out / "logs").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file in the stage folder"
    acc = EventAccumulator(str(out / "logs"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {
        "train/rewards/accuracy_reward/mean",
        "train/rewards/format_reward/mean",
        "train/completions/mean_length",
        "train/reward",
    } <= tags
