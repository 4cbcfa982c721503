"""A real GRPO step with TRL on the tiny model: parameters move, a frozen vision tower does not."""

import torch

from stagewise.config import TrainerConfig
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.models.families import vision_parameters
from stagewise.models.load import load_model_and_processor
from stagewise.train.grpo import run_grpo

CFG = TrainerConfig(
    steps=2,
    learning_rate=1e-2,
    prompts_per_step=2,
    group_size=4,
    max_completion_length=12,
    logging_steps=1,
    temperature=1.0,
)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed(before, model, part):
    """Names of parameters under `part` (the language model or the vision tower) that moved."""
    prefix = {"text": "model.language_model.", "vision": "model.visual."}[part]
    return [
        k
        for k, v in model.named_parameters()
        if k.startswith(prefix) and not torch.equal(before[k], v.detach())
    ]


def test_grpo_updates_the_model_and_logs_reward_parts(tiny_model_dir, world_dir, tmp_path):
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    before = snapshot(model)
    rows = to_trl_rows(load_rows(world_dir / "perception" / "train", limit=8), instruction=None)
    trainer = run_grpo(model, processor, to_dataset(rows), tmp_path / "out", CFG)
    assert changed(before, model, "text")
    assert changed(before, model, "vision")
    logged = {k for h in trainer.state.log_history for k in h}
    assert {"rewards/accuracy_reward/mean", "rewards/format_reward/mean"} <= logged
    reloaded, _ = load_model_and_processor(tmp_path / "out", dtype=torch.float32)
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight)


def test_frozen_vision_tower_stays_put_on_text_only_data(tiny_model_dir, world_dir, tmp_path):
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    before = snapshot(model)
    rows = to_trl_rows(load_rows(world_dir / "textual" / "train", limit=8), instruction=None)
    run_grpo(model, processor, to_dataset(rows), tmp_path / "out", CFG, freeze_vision_tower=True)
    assert not changed(before, model, "vision")
    assert changed(before, model, "text")
    assert not any(p.requires_grad for p in vision_parameters(model).values())


def test_a_vision_only_stage_leaves_the_language_model_alone(tiny_model_dir, world_dir, tmp_path):
    from dataclasses import replace

    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    before, head = snapshot(model), model.lm_head.weight.detach().clone()
    rows = to_trl_rows(load_rows(world_dir / "perception" / "train", limit=8), instruction=None)
    run_grpo(model, processor, to_dataset(rows), tmp_path / "out", replace(CFG, trainable="vision"))
    assert changed(before, model, "vision")
    assert not changed(before, model, "text")
    assert torch.equal(head, model.lm_head.weight)
