"""What every trainer call shares: CPU-friendly TRL defaults, vision freezing, saving a stage's model."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import random
from pathlib import Path

import torch
from transformers import TrainingArguments

from stagewise.models.families import model_family, vision_parameters

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def checkpointing_arg(on: bool) -> dict:
    """Activation checkpointing under the name this transformers reads (5.24 renamed `gradient_checkpointing`
    to `activation_checkpointing` and warns on the old name; earlier 5.x only know the old one)."""
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return {
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": on
    }


def device_defaults() -> dict:
    """TRL's defaults (bf16, gradient checkpointing) fail or crawl on CPU; pick what the hardware supports."""
    cuda = torch.cuda.is_available()
    return {
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "use_cpu": not cuda,
        **checkpointing_arg(False),
        "report_to": "none",
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
    }


def report_targets(choice: str) -> list[str] | str:
    """A recipe's `report_to` ("tensorboard", "wandb,trackio", "none") as TRL's `report_to`; trackers whose
    package is not installed are dropped with a warning."""
    out = []
    for name in (t.strip() for t in choice.split(",")):
        if not name or name == "none":
            continue
        if importlib.util.find_spec(name) is None:
            log.warning("report_to %s: the %s package is not installed; not logging there", name, name)
            continue
        out.append(name)
    return out or "none"


def log_into_stage_folder(trainer, out_dir: Path) -> None:
    """TensorBoard writes into `<stage>/logs/` (transformers would pick `checkpoints/runs/<date>`, and the
    checkpoints folder is deleted once the stage is saved)."""
    from transformers.integrations import TensorBoardCallback

    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, TensorBoardCallback):
            cb.logging_dir = str(Path(out_dir) / "logs")


def freeze_vision(model) -> int:
    """Freeze the vision tower and its projector/merger (the family's modules, stagewise.models.families);
    returns how many parameters were frozen."""
    n = 0
    for p in vision_parameters(model).values():
        if p.requires_grad:
            p.requires_grad_(False)
            n += p.numel()
    log.info(
        "freeze_vision: froze %d parameters of %s's vision tower and projector (%s)",
        n,
        model_family(model).label,
        ", ".join(model_family(model).vision_modules),
    )
    return n


def freeze_language(model) -> int:
    """Freeze everything but the vision tower and its projector/merger; returns how many parameters were
    frozen."""
    vision = {id(p) for p in vision_parameters(model).values()}
    n = 0
    for p in model.parameters():
        if id(p) not in vision and p.requires_grad:
            p.requires_grad_(False)
            n += p.numel()
    log.info(
        "trainable: vision: froze %d language-model parameters (only %s trains)",
        n,
        ", ".join(model_family(model).vision_modules),
    )
    return n


def parameter_counts(model) -> dict[str, int]:
    """Parameters in all, trainable and frozen (tied weights once): what a stage's manifest records, so that
    the effect of its vision switches can be checked after the fact."""
    params = {id(p): p for p in model.parameters()}.values()
    # ZeRO-3 leaves each rank a shard (numel 0) and keeps the full size as ds_numel
    total = sum(getattr(p, "ds_numel", p.numel()) for p in params)
    trainable = sum(getattr(p, "ds_numel", p.numel()) for p in params if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def save_model(trainer, processor, out_dir: Path, merge_lora: bool = False) -> None:
    """Save the trained model with its processor and generation config, loadable offline.

    Every rank calls this (ZeRO-3 and FSDP gather the weights collectively); only the main process writes.
    LoRA adapters are merged first, so the next stage starts from a plain model folder.
    """
    if merge_lora:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if trainer.accelerator.is_main_process:
            model.merge_and_unload().save_pretrained(str(out_dir))
    else:
        trainer.save_model(str(out_dir))
    if trainer.accelerator.is_main_process:
        from stagewise.models.processors import save_processor

        save_processor(
            processor, out_dir
        )  # records the family's real processor class (processors.py says why)
    trainer.accelerator.wait_for_everyone()
