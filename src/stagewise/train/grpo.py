"""One GRPO stage with TRL's GRPOTrainer, rewards from the shared verifier (0.9 accuracy + 0.1 format)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import datasets
from trl import GRPOConfig, GRPOTrainer

from stagewise.config import TrainerConfig
from stagewise.data.budget import fit_pixels
from stagewise.models.families import lora_exclude_regex, model_family
from stagewise.rewards import reward_funcs_for
from stagewise.train.checkpoint import CheckpointWeightsMixin
from stagewise.train.common import (
    checkpointing_arg,
    device_defaults,
    freeze_language,
    freeze_vision,
    log_into_stage_folder,
    report_targets,
    save_model,
)

log = logging.getLogger(__name__)

# TRL 1.16 reads `model.is_gradient_checkpointing`, which transformers 5 deprecates, on every generation and
# save: one FutureWarning per checkpoint in every stage's log, about code that is not ours.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


class StageGRPOTrainer(CheckpointWeightsMixin, GRPOTrainer):
    """TRL's GRPOTrainer that resumes with the checkpoint's weights (train/checkpoint.py says why) and trains
    LLaVA-OneVision."""

    pixels: tuple[int | None, int | None] = (None, None)
    """`model.min_pixels`, `model.max_pixels`: each prompt's images are fitted into them before TRL hands them
    to the processor (stagewise.data.budget says why there and not in one family's processor settings)."""

    def _generate_and_score_completions(self, inputs):
        if self.pixels != (None, None):
            inputs = [
                {**x, "images": [fit_pixels(im, *self.pixels) for im in x["images"]]}
                if x.get("images")
                else x
                for x in inputs
            ]
        return super()._generate_and_score_completions(inputs)

    def _get_per_token_logps_and_entropies(self, *args, batch_num_images=None, **kwargs):
        # TRL 1.16 passes every processor output on to this method, and the LLaVA-OneVision processor returns
        # `batch_num_images`, which it does not accept: every LLaVA-OneVision stage with beta != 0 (or with
        # several updates per rollout) failed here. With one image per prompt the model's default (each image
        # patched on its own) is exactly what the processor counted tokens for, so the field can be dropped;
        # with several, the model would patch differently from the processor, so refuse instead.
        if batch_num_images is not None and any(int(n) > 1 for n in batch_num_images):
            raise ValueError(
                "LLaVA-OneVision prompts with several images are not supported in GRPO on TRL "
                f"{_trl_version()} (its log-prob pass drops `batch_num_images`); use one image per "
                "prompt"
            )
        return super()._get_per_token_logps_and_entropies(*args, **kwargs)


def _trl_version() -> str:
    import trl

    return trl.__version__


def per_device_batch(cfg: TrainerConfig, world_size: int) -> int:
    """Completions per process per micro-batch, so that one optimizer step sees `prompts_per_step` prompts."""
    total = cfg.prompts_per_step * cfg.group_size  # TRL counts completions, not prompts
    parts = world_size * cfg.gradient_accumulation_steps
    if total % parts:
        raise ValueError(
            f"prompts_per_step x group_size = {total} completions cannot be split evenly over "
            f"{world_size} processes x {cfg.gradient_accumulation_steps} accumulation steps"
        )
    return total // parts


def vllm_kwargs(cfg: TrainerConfig) -> dict:
    """TRL's vLLM switches for the stage's rollout mode (server-side settings go to `trl vllm-serve`
    instead)."""
    v = cfg.vllm
    if v.mode == "off":
        return {"use_vllm": False}
    kwargs = {"use_vllm": True, "vllm_mode": v.mode, "vllm_max_model_length": v.max_model_length}
    if v.mode == "colocate":
        kwargs.update(
            vllm_gpu_memory_utilization=v.gpu_memory_utilization,
            vllm_tensor_parallel_size=v.tensor_parallel_size,
            vllm_enable_sleep_mode=v.enable_sleep_mode,
        )
    else:
        kwargs.update(vllm_server_host=v.server_host, vllm_server_port=v.server_port)
    return kwargs


def peft_config(cfg: TrainerConfig, model=None):
    """PEFT LoraConfig for the stage, or None for full fine-tuning. Without `lora.vision`, the adapters skip
    the same modules `freeze_vision` freezes (the model's family's vision tower and projector), so `model` is
    needed."""
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    lo = cfg.lora
    targets = lo.target_modules[0] if lo.target_modules == ["all-linear"] else list(lo.target_modules)
    exclude = None
    if not lo.vision:
        if model is None:
            raise ValueError(
                "peft_config: LoRA without lora.vision needs the model, to exclude its vision modules"
            )
        fam = model_family(model)
        exclude = lora_exclude_regex(model.config.model_type, fam.label)
    return LoraConfig(
        r=lo.r,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=targets,
        exclude_modules=exclude,
        task_type="CAUSAL_LM",
    )


def grpo_config(cfg: TrainerConfig, out_dir: Path, seed: int, world_size: int | None = None) -> GRPOConfig:
    """Map a stage's trainer settings onto TRL's GRPOConfig (each line says which paper knob it is)."""
    reward_funcs, weights = reward_funcs_for(cfg.reward_mode or "stagewise")
    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))  # set by `accelerate launch`
    batch = per_device_batch(cfg, world_size)
    kwargs = dict(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=cfg.steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        # TRL splits one rollout of generation_batch_size completions into optimizer steps (paper: 512/128 =
        # 4)
        generation_batch_size=cfg.prompts_per_rollout * cfg.group_size if cfg.prompts_per_rollout else None,
        max_grad_norm=cfg.max_grad_norm,
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
        save_total_limit=cfg.save_total_limit,
        seed=seed,
        shuffle_dataset=cfg.shuffle,  # curricula keep their easy -> hard order
        remove_unused_columns=False,
        log_completions=False,
    )
    kwargs.update(device_defaults())
    kwargs["report_to"] = report_targets(cfg.report_to)
    kwargs["run_name"] = "/".join(Path(out_dir).parts[-3:])  # <variant>/seed<k>/<stage> in W&B/trackio
    kwargs.update(checkpointing_arg(cfg.gradient_checkpointing))
    if cfg.bf16 is not None:
        kwargs["bf16"] = cfg.bf16
    kwargs.update(vllm_kwargs(cfg))
    kwargs.update(cfg.extra)
    return GRPOConfig(**kwargs)


def run_grpo(
    model,
    processor,
    train: datasets.Dataset,
    out_dir: str | Path,
    cfg: TrainerConfig,
    *,
    seed: int = 0,
    freeze_vision_tower: bool = False,
    resume: bool | str = False,
    args: GRPOConfig | None = None,
    pixels: tuple[int | None, int | None] = (None, None),
) -> StageGRPOTrainer:
    """Train one stage and save the model (with its processor) to `out_dir`. `args`: the stage's
    `grpo_config`, when the caller built it before loading the model (so that DeepSpeed ZeRO-3 shards the
    model as it loads)."""
    out = Path(out_dir)
    # `accelerate launch` sets these; the LoRA merge before saving needs the whole model on the main process.
    sharded = (
        os.environ.get("ACCELERATE_USE_FSDP") == "true"
        or os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    )
    if cfg.lora is not None and sharded:
        raise ValueError(
            "LoRA stages are merged into a plain model on save, which needs unsharded weights: use DDP, "
            "ZeRO-1 or ZeRO-2 (recipes/accelerate/{ddp,zero2}.yaml) with LoRA, not ZeRO-3 or FSDP"
        )
    if freeze_vision_tower:
        freeze_vision(model)
    if cfg.trainable == "vision":
        freeze_language(model)
    reward_funcs, _ = reward_funcs_for(cfg.reward_mode or "stagewise")  # the recipe's `reward.mode`
    trainer = StageGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args if args is not None else grpo_config(cfg, out, seed),
        train_dataset=train,
        processing_class=processor,
        peft_config=peft_config(cfg, model),
    )
    trainer.pixels = pixels
    log_into_stage_folder(trainer, out)
    trainer.train(resume_from_checkpoint=resume or None)
    save_model(trainer, processor, out, merge_lora=cfg.lora is not None)
    return trainer
