"""SFT with TRL's SFTTrainer: the tiny model's warm start (and, later, the caption-SFT baseline)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import datasets
from trl import SFTConfig, SFTTrainer

from stagewise.train.checkpoint import CheckpointWeightsMixin
from stagewise.train.common import device_defaults, log_into_stage_folder, save_model

log = logging.getLogger(__name__)


class StageSFTTrainer(CheckpointWeightsMixin, SFTTrainer):
    """TRL's SFTTrainer that resumes with the checkpoint's weights (train/checkpoint.py says why)."""


def run_sft(
    model,
    processor,
    train: datasets.Dataset,
    out_dir: str | Path,
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
    warmup_ratio: float = 0.05,
    logging_steps: int = 20,
    save_steps: int = 0,
    max_length: int = 512,
    completion_only_loss: bool = True,
    extra: dict | None = None,
    resume: bool | str = False,
    shuffle: bool = True,
    gradient_accumulation_steps: int = 1,
    args: SFTConfig | None = None,
) -> StageSFTTrainer:
    """Train on prompt/completion rows and save to `out_dir` (loss on the completion only unless told).
    `shuffle=False` takes the rows in the order given (batches arranged by the caller). `batch_size` sequences
    per optimizer step, split into `gradient_accumulation_steps` micro-batches per process. `args`: a prebuilt
    `sft_config` (built before the model is loaded, so that DeepSpeed ZeRO-3 shards it as it loads), in place
    of the settings."""
    out = Path(out_dir)
    if args is None:
        if steps is None or batch_size is None or learning_rate is None:
            raise TypeError("run_sft needs steps, batch_size and learning_rate, or a prebuilt args")
        args = sft_config(
            out,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            warmup_ratio=warmup_ratio,
            logging_steps=logging_steps,
            save_steps=save_steps,
            max_length=max_length,
            completion_only_loss=completion_only_loss,
            extra=extra,
            shuffle=shuffle,
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
    trainer = StageSFTTrainer(model=model, args=args, train_dataset=train, processing_class=processor)
    log_into_stage_folder(trainer, out)  # TensorBoard into <stage>/logs/, as GRPO stages
    trainer.train(resume_from_checkpoint=resume or None)
    save_model(trainer, processor, out)
    return trainer


def sft_config(
    out: Path,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    warmup_ratio: float = 0.05,
    logging_steps: int = 20,
    save_steps: int = 0,
    max_length: int = 512,
    completion_only_loss: bool = True,
    extra: dict | None = None,
    shuffle: bool = True,
    gradient_accumulation_steps: int = 1,
    world_size: int | None = None,
) -> SFTConfig:
    """TRL's SFTConfig for `batch_size` sequences per optimizer step over every process and micro-batch."""
    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))  # set by `accelerate launch`
    parts = world_size * gradient_accumulation_steps
    if batch_size % parts:
        raise ValueError(
            f"SFT batch_size {batch_size} cannot be split evenly over {world_size} processes x "
            f"{gradient_accumulation_steps} accumulation steps"
        )
    return SFTConfig(
        output_dir=str(Path(out) / "checkpoints"),
        max_steps=steps,
        per_device_train_batch_size=batch_size // parts,
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(warmup_ratio * steps)),
        weight_decay=0.01,
        logging_steps=logging_steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        seed=seed,
        max_length=max_length,
        completion_only_loss=completion_only_loss,
        remove_unused_columns=False,
        train_sampling_strategy="random" if shuffle else "sequential",
        **{**device_defaults(), **(extra or {})},  # the stage's own switches over the hardware's defaults
    )
