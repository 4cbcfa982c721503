"""One GRPO stage with TRL's GRPOTrainer, rewards from the shared verifier (0.9 accuracy + 0.1 format)."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
from trl import GRPOConfig, GRPOTrainer

from stagewise.config import TrainerConfig
from stagewise.rewards import paper_reward_funcs
from stagewise.train.common import device_defaults, freeze_vision, save_model

log = logging.getLogger(__name__)


def grpo_config(cfg: TrainerConfig, out_dir: Path, seed: int) -> GRPOConfig:
    """Map a stage's trainer settings onto TRL's GRPOConfig (each line says which paper knob it is)."""
    reward_funcs, weights = paper_reward_funcs()
    batch = cfg.prompts_per_step * cfg.group_size  # TRL counts completions, not prompts
    kwargs = dict(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=cfg.steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        per_device_train_batch_size=batch,
        num_generations=cfg.group_size,
        beta=cfg.beta,
        epsilon=cfg.clip_low,
        epsilon_high=cfg.clip_high,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_completion_length=cfg.max_completion_length,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        reward_weights=weights,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        seed=seed,
        shuffle_dataset=cfg.shuffle,  # curricula keep their easy -> hard order
        remove_unused_columns=False,
        log_completions=False,
    )
    kwargs.update(device_defaults())
    kwargs.update(cfg.extra)
    return GRPOConfig(**kwargs)


def run_grpo(model, processor, train: datasets.Dataset, out_dir: str | Path, cfg: TrainerConfig, *,
             seed: int = 0, freeze_vision_tower: bool = False, resume: bool | str = False) -> GRPOTrainer:
    """Train one stage and save the model (with its processor) to `out_dir`."""
    out = Path(out_dir)
    if freeze_vision_tower:
        freeze_vision(model)
    reward_funcs, _ = paper_reward_funcs()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_config(cfg, out, seed),
        train_dataset=train,
        processing_class=processor,
    )
    trainer.train(resume_from_checkpoint=resume or None)
    save_model(trainer, processor, out)
    return trainer
