"""Memory per GPU (`stagewise plan RECIPE --gpus N`): each stage under DDP, ZeRO-1/2/3 and FSDP.

Model states follow the ZeRO paper's accounting (Rajbhandari et al., 2020) for mixed-precision Adam: 2 bytes
of bf16 weights + 2 of bf16 gradients + 12 of fp32 optimizer state (master weights, momentum, variance) per
trained parameter, 16 in all. ZeRO-1 shards the 12, ZeRO-2 also the gradients, ZeRO-3 and FSDP (full shard)
also the weights. Frozen parameters (the vision tower in the textual stage, everything but the adapters under
LoRA) only cost their weights. Activations are an order-of-magnitude estimate (Korthikanti et al., 2022, with
flash attention: about 34 x sequence x hidden bytes per layer and sequence, or 2 x when checkpointed, plus
fp32 logits). A colocated vLLM engine is counted at its full `gpu_memory_utilization` share: conservative, as
sleep mode frees it during the updates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from stagewise.config import Recipe, StageConfig, TrainerConfig

log = logging.getLogger(__name__)

STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp")
GIB = 1024**3


@dataclass
class ModelShape:
    """What the memory estimate needs to know about a model."""

    parameters: int
    """All parameters."""
    vision: int
    """Parameters of the vision tower and projector."""
    hidden: int
    """Language model hidden size."""
    layers: int
    """Language model layers."""
    vocab: int
    """Vocabulary size (the logits)."""
    lora_per_rank: int
    """Trainable LoRA parameters per unit of rank on every linear layer of the language model."""
    lora_vision_per_rank: int = 0
    """The same for the vision tower's linear layers."""


# Hub models the paper trains, from their config.json files (parameter counts as on the model cards, rounded):
# used when the config is not on this machine. Any other model: a local folder, or a hub id in the local
# cache.
KNOWN_MODELS: dict[str, dict] = {
    "Qwen/Qwen2.5-VL-7B-Instruct": {
        "parameters": 8_292_000_000,
        "vision": 676_000_000,
        "hidden": 3584,
        "layers": 28,
        "vocab": 152064,
        "intermediate": 18944,
        "heads": 28,
        "kv_heads": 4,
    },
    "Qwen/Qwen3-VL-8B-Instruct": {
        "parameters": 8_767_000_000,
        "vision": 576_000_000,
        "hidden": 4096,
        "layers": 36,
        "vocab": 151936,
        "intermediate": 12288,
        "heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
    },
    "OpenGVLab/InternVL3-8B-hf": {
        "parameters": 7_945_000_000,
        "vision": 338_000_000,
        "hidden": 3584,
        "layers": 28,
        "vocab": 151674,
        "intermediate": 18944,
        "heads": 28,
        "kv_heads": 4,
    },
}


def _lora_per_rank_from_dims(k: dict) -> int:
    """sum over a layer's q,k,v,o,gate,up,down of (in + out) features, times layers."""
    h, i = k["hidden"], k["intermediate"]
    hd = k.get("head_dim", h // k["heads"])
    q, kv = k["heads"] * hd, k["kv_heads"] * hd
    per_layer = (h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h)
    return per_layer * k["layers"]


def shape_from_model(model: torch.nn.Module) -> ModelShape:
    """Exact counts from a model (built on the meta device: no memory, no download)."""
    from stagewise.models.families import vision_parameters

    vision_ids = {
        id(p) for p in vision_parameters(model).values()
    }  # tower and projector, as the switches mean
    params = {id(p): p for p in model.parameters()}  # tied weights once
    lora_text = lora_vision = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and not name.endswith("lm_head"):
            n = mod.in_features + mod.out_features
            if id(mod.weight) in vision_ids:
                lora_vision += n
            else:
                lora_text += n
    cfg = model.config
    text = getattr(cfg, "text_config", None) or getattr(cfg, "llm_config", None) or cfg
    return ModelShape(
        parameters=sum(p.numel() for p in params.values()),
        vision=sum(p.numel() for i, p in params.items() if i in vision_ids),
        hidden=text.hidden_size,
        layers=text.num_hidden_layers,
        vocab=text.vocab_size,
        lora_per_rank=lora_text,
        lora_vision_per_rank=lora_vision,
    )


def _meta_model(config):
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config)


def model_shape(recipe: Recipe) -> ModelShape:
    """The recipe's base model: a tiny preset (built on the meta device), a local folder, or a hub id (the
    local cache, else the table of the paper's models)."""
    from transformers import AutoConfig

    from stagewise.models.tiny import PRESETS, model_config, world_corpus

    source = recipe.model.source
    if source in PRESETS:
        from stagewise.models.tokenizer import train_tokenizer

        tokenizer = train_tokenizer(world_corpus(50), vocab_size=PRESETS[source]["vocab"])
        return shape_from_model(_meta_model(model_config(source, tokenizer)))
    if Path(source).exists():
        return shape_from_model(_meta_model(AutoConfig.from_pretrained(source)))
    if source in KNOWN_MODELS:
        k = KNOWN_MODELS[source]
        return ModelShape(
            parameters=k["parameters"],
            vision=k["vision"],
            hidden=k["hidden"],
            layers=k["layers"],
            vocab=k["vocab"],
            lora_per_rank=_lora_per_rank_from_dims(k),
        )
    try:
        return shape_from_model(_meta_model(AutoConfig.from_pretrained(source)))
    except OSError as e:
        raise ValueError(
            f"model.source {source!r}: no local folder, not in the table of known models "
            f"({', '.join(KNOWN_MODELS)}) and its config is not in the local cache"
        ) from e


def trainable_parameters(shape: ModelShape, stage: StageConfig) -> int:
    lora = stage.trainer.lora
    if lora is not None:
        return lora.r * (shape.lora_per_rank + (shape.lora_vision_per_rank if lora.vision else 0))
    return shape.parameters - (shape.vision if stage.freeze_vision else 0)


def model_state_bytes(parameters: int, trainable: int, gpus: int, strategy: str, bf16: bool = True) -> dict:
    """Per-GPU bytes of weights, gradients and Adam states: 16 per trained parameter either way, split 2/2/12
    with bf16 weights (`bf16`) or 4/4/8 with fp32 weights; frozen parameters cost their weights only."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    w, g, o = (2, 2, 12) if bf16 else (4, 4, 8)  # fp32 training needs no master copy
    shard_w = strategy in ("zero3", "fsdp")
    shard_g = strategy in ("zero2", "zero3", "fsdp")
    shard_o = strategy != "ddp"
    return {
        "weights": w * parameters / (gpus if shard_w else 1),
        "gradients": g * trainable / (gpus if shard_g else 1),
        "optimizer": o * trainable / (gpus if shard_o else 1),
    }


def activation_bytes(
    shape: ModelShape, micro_batch: int, seq_len: int, checkpointing: bool, bf16: bool = True
) -> float:
    """Rough activation memory of one micro-batch's forward + backward."""
    per_layer = 34 * seq_len * micro_batch * shape.hidden * (1 if bf16 else 2)
    layers = (2 / 34 * per_layer * shape.layers + per_layer) if checkpointing else per_layer * shape.layers
    logits = 4 * seq_len * micro_batch * shape.vocab  # fp32 log-probs over the vocabulary
    return layers + logits


def bf16_weights(strategy: str, train_dtype: str, mixed_bf16: bool) -> bool:
    """Whether the trained weights sit in bf16 (2 bytes, with a 4-byte fp32 master copy in the optimizer
    state) or fp32 (4 bytes, no master copy) under `strategy`: DeepSpeed with bf16 on casts the loaded model
    to bf16 and keeps fp32 masters whatever it was loaded in; DDP and FSDP keep the dtype `model.train_dtype`
    loaded (autocast computes in bf16 on fp32 weights)."""
    if strategy.startswith("zero"):
        return mixed_bf16
    return train_dtype in ("bfloat16", "auto")  # auto: bf16 on a CUDA GPU, which this plans for


def stage_plan(
    shape: ModelShape,
    stage: StageConfig,
    gpus: int,
    prompt_tokens: int = 1024,
    gpu_memory_gib: float = 80.0,
    train_dtype: str = "float32",
) -> list[dict]:
    """One row per strategy: GiB per GPU of every part and the total, for weights loaded in `train_dtype`."""
    from stagewise.train.grpo import per_device_batch

    t: TrainerConfig = stage.trainer
    bf16 = t.bf16 if t.bf16 is not None else True
    trainable = trainable_parameters(shape, stage)
    train_gpus = gpus - (t.vllm.server_gpus if t.vllm.mode == "server" else 0)
    if train_gpus < 1:
        raise ValueError(f"stage {stage.name}: {gpus} GPU(s) leave none for training beside the vLLM server")
    if stage.method == "grpo":
        micro = per_device_batch(t, train_gpus)
    else:
        micro = max(1, t.batch_size // (train_gpus * t.gradient_accumulation_steps))
    seq = prompt_tokens + t.max_completion_length
    rows = []
    for strategy in STRATEGIES:
        half = bf16_weights(strategy, train_dtype, bf16)
        parts = model_state_bytes(shape.parameters, trainable, train_gpus, strategy, half)
        # TRL keeps a frozen reference model for the KL term (a copy of the policy, in its dtype); with LoRA
        # it disables the adapters instead.
        ref = 0.0
        if stage.method == "grpo" and t.beta > 0 and t.lora is None:
            ref = (2 if half else 4) * shape.parameters / (train_gpus if strategy in ("zero3", "fsdp") else 1)
        parts["reference"] = ref
        parts["activations"] = activation_bytes(shape, micro, seq, t.gradient_checkpointing, bf16)
        parts["vllm"] = (
            t.vllm.gpu_memory_utilization * gpu_memory_gib * GIB if t.vllm.mode == "colocate" else 0.0
        )
        total = sum(parts.values())
        rows.append(
            {
                "strategy": strategy,
                **{k: v / GIB for k, v in parts.items()},
                "total": total / GIB,
                "fits": total / GIB <= gpu_memory_gib,
                "micro_batch": micro,
                "seq_len": seq,
                "trainable": trainable,
                "train_gpus": train_gpus,
                "bf16_weights": half,
            }
        )
    return rows


DEFAULT_PROMPT_TOKENS = 1024
"""Prompt length assumed where a stage's data cannot be measured and sets no `data.max_prompt_tokens`."""


def stage_prompt_tokens(recipe: Recipe, stage: StageConfig, sample: int = 256) -> tuple[int, str]:
    """The longest prompt a stage trains on, and how it is known: `data.max_prompt_tokens` (longer rows are
    dropped), else measured with the model's processor on up to `sample` rows of each of the stage's data
    files (images fitted to `model.min/max_pixels`, read from their headers), else DEFAULT_PROMPT_TOKENS."""
    if stage.data.max_prompt_tokens is not None:
        return stage.data.max_prompt_tokens, "data.max_prompt_tokens"
    if not stage.data.paths:
        return DEFAULT_PROMPT_TOKENS, "assumed (world data is made when the run starts)"
    from stagewise.data.budget import PromptLength
    from stagewise.data.sources import DataError, to_trl_rows
    from stagewise.models.load import load_processor
    from stagewise.train.plan import read_source

    try:
        length = PromptLength(
            load_processor(recipe.model.source), recipe.model.min_pixels, recipe.model.max_pixels
        )
        rows = [
            r
            for p in stage.data.paths
            for r in to_trl_rows(
                read_source(stage, p, recipe.run_dir / "data", limit=sample),
                instruction=stage.data.instruction,
            )
        ]
        return max(length(r) for r in rows), f"longest of {len(rows)} rows measured with the processor"
    except (DataError, OSError, ValueError) as e:
        log.warning(
            "stage %s: prompt length not measured (%s); assuming %d tokens",
            stage.name,
            str(e).splitlines()[0][:200],
            DEFAULT_PROMPT_TOKENS,
        )
        return DEFAULT_PROMPT_TOKENS, "assumed"


def plan(recipe: Recipe, gpus: int, prompt_tokens: int | None = None, gpu_memory_gib: float = 80.0) -> dict:
    """Every stage's memory per strategy; `prompt_tokens` overrides each stage's own
    (`stage_prompt_tokens`)."""
    shape = model_shape(recipe)
    stages, prompts = {}, {}
    for st in recipe.stages:
        tokens, how = (
            (prompt_tokens, "given") if prompt_tokens is not None else stage_prompt_tokens(recipe, st)
        )
        prompts[st.name] = {"tokens": tokens, "from": how}
        stages[st.name] = stage_plan(shape, st, gpus, tokens, gpu_memory_gib, recipe.model.train_dtype)
    return {
        "model": recipe.model.source,
        "parameters": shape.parameters,
        "vision": shape.vision,
        "stages": stages,
        "prompt_tokens": prompts,
    }
