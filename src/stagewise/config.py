"""Recipes: YAML loaded into typed dataclasses, with dotted overrides from the command line.

Every field has a docstring below it. Unknown keys, wrong types and unknown task families are errors that name
the recipe file and the dotted key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stagewise.world.scene import Difficulty
from stagewise.world.tasks import FAMILIES


class RecipeError(ValueError):
    """A recipe problem; the message names the file and the key."""


@dataclass
class WorldSection:
    """The procedural world the embedded default trains and evaluates on."""

    seed: int = 0
    """Seed of every generated split (train and test never share an item)."""
    image_size: int = 112
    """Rendered image side in pixels (112 px = 16 image tokens for Qwen2-VL)."""
    chart_share: float = 0.2
    """Share of scenes that are bar charts."""
    recheck_prob: float = 0.3
    """Share of reference traces with a re-check step."""
    option_trace: str = "lookup"
    """How perception traces reach the letter: lookup, scan or none (see stagewise.world.tasks.WorldConfig)."""
    inventory_in_trace: bool = False
    """Open visual traces with the whole scene inventory."""
    train_size: int = 2000
    """Training items generated per family (stages take the first `data.size` of them)."""
    test_size: int = 200
    """Held-out test items per family."""
    difficulty: Difficulty = field(default_factory=Difficulty)
    """Objects, clutter, labels and reasoning steps."""


@dataclass
class WarmstartConfig:
    """SFT on world reference traces that turns the random tiny model into the base the stages start from."""

    steps: int = 600
    """Optimizer steps of SFT."""
    batch_size: int = 32
    """Sequences per step."""
    learning_rate: float = 2e-3
    """Peak learning rate (cosine decay after a short warmup)."""
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """World families whose reference traces are trained on."""
    size: int = 2000
    """Items taken per family."""
    describe: bool = False
    """Also train "Describe what you see." -> the scene inventory on every image of the warm-start data, a dense
    image-grounded target like the captioning that real VLMs are pretrained on."""


@dataclass
class ModelConfig:
    """Where the base model comes from."""

    source: str = "tiny"
    """A preset name (`tiny`, `small`: built locally), a hub id, or a local model folder."""
    warmstart: WarmstartConfig | None = None
    """SFT warm start on world traces before the stages; null to start the stages from `source` directly."""
    corpus_size: int = 1500
    """World items per family used to train the tiny model's tokenizer (presets only)."""


@dataclass
class DataConfig:
    """What a stage trains on: world families and/or files."""

    families: list[str] = field(default_factory=list)
    """World task families (perception, visual, textual), read from the run's generated world data."""
    size: int = 1000
    """Items taken per family (from the world's train split)."""
    paths: list[str] = field(default_factory=list)
    """JSONL files in the paper's schema or HF dataset folders (saved with save_to_disk)."""
    instruction: str | None = "think_boxed"
    """Prompt template appended to every question (`prompts/<name>.txt`); null for none."""


@dataclass
class VLLMConfig:
    """Rollouts with vLLM through TRL (`use_vllm`); off by default, as the tiny model generates on CPU."""

    mode: str = "off"
    """`off` (transformers `generate`), `colocate` (vLLM inside every training process, sharing its GPU) or
    `server` (`trl vllm-serve` on GPUs of its own, started and stopped by the launcher for each stage)."""
    gpu_memory_utilization: float = 0.3
    """Share of each GPU's memory vLLM may take (colocate: shared with training; server: the server's GPUs)."""
    tensor_parallel_size: int = 1
    """vLLM tensor parallel size (colocate: over training ranks; server: over the server's GPUs)."""
    server_gpus: int = 1
    """Server mode: GPUs on the first machine given to `trl vllm-serve` (the last ones); training gets the rest."""
    server_port: int = 8000
    """Server mode: HTTP port of `trl vllm-serve` (TRL `vllm_server_port`)."""
    server_host: str = "127.0.0.1"
    """Server mode: address trainers reach the server at (the launcher uses the main process address on
    multi-node runs)."""
    max_model_length: int | None = None
    """vLLM context window (prompt + completion tokens); null: from the model config."""
    enable_sleep_mode: bool = False
    """Colocate: offload vLLM weights and KV cache during the optimizer step (TRL `vllm_enable_sleep_mode`)."""


@dataclass
class LoRAConfig:
    """LoRA adapters through PEFT instead of full fine-tuning."""

    r: int = 64
    """Adapter rank."""
    alpha: int = 64
    """LoRA scaling numerator (`lora_alpha`)."""
    dropout: float = 0.0
    """Dropout on the adapter input."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Modules that get adapters (PEFT `target_modules`; `[all-linear]`: every linear layer)."""
    vision: bool = False
    """Also put adapters on the vision tower (vLLM cannot serve vision-tower LoRA; EasyR1 excludes it too)."""


@dataclass
class TrainerConfig:
    """Trainer settings, mapped onto TRL's GRPOConfig (or SFTConfig for method `sft`)."""

    steps: int = 100
    """Optimizer steps (TRL `max_steps`)."""
    learning_rate: float = 1e-6
    """Constant learning rate after warmup (paper: 1e-6 for 7-8B models)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Linear warmup steps."""
    prompts_per_step: int = 4
    """Distinct prompts per optimizer step; each gets `group_size` completions."""
    group_size: int = 5
    """Completions per prompt (TRL `num_generations`; paper: 5)."""
    beta: float = 0.01
    """KL coefficient against the stage's starting model (TRL `beta`; paper: 0.01, KL as a loss)."""
    clip_low: float = 0.2
    """Lower PPO clip range (TRL `epsilon`)."""
    clip_high: float = 0.3
    """Upper PPO clip range (TRL `epsilon_high`; paper: 0.3, clip-higher)."""
    temperature: float = 1.0
    """Rollout sampling temperature."""
    top_p: float = 1.0
    """Rollout nucleus sampling."""
    max_completion_length: int = 128
    """Most tokens per completion (paper: 2048)."""
    loss_type: str = "dapo"
    """TRL loss aggregation: `dapo` is token-level mean over the batch, as EasyR1/verl's token-mean."""
    scale_rewards: str = "group"
    """Advantage normalisation by group std (`group`, `batch` or `none`)."""
    batch_size: int = 32
    """Sequences per step for method `sft`."""
    logging_steps: int = 5
    """Log every N steps."""
    save_steps: int = 0
    """Save a TRL checkpoint every N steps (0: only the final model)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step on each process; the per-device batch is
    `prompts_per_step * group_size / (processes * gradient_accumulation_steps)`."""
    prompts_per_rollout: int | None = None
    """Prompts generated at once (TRL `generation_batch_size` = this x `group_size`), then consumed over
    `prompts_per_rollout / prompts_per_step` optimizer steps (paper: 512 per rollout, 128 per update);
    null: one rollout per optimizer step (fully on-policy)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (TRL and EasyR1 default: 1.0)."""
    bf16: bool | None = None
    """bf16 mixed precision; null: on where the GPU supports it, off on CPU."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (saves memory on long completions)."""
    vllm: VLLMConfig = field(default_factory=VLLMConfig)
    """vLLM rollouts (off, colocate, server)."""
    lora: LoRAConfig | None = None
    """LoRA via PEFT; null: full fine-tuning."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further TRL config fields passed through unchanged (e.g. `{mask_truncated_completions: true}`)."""


@dataclass
class StageConfig:
    """One stage of post-training. It starts from the previous stage's saved model."""

    name: str = ""
    """Folder name under the run (`runs/<run>/<name>/`)."""
    capability: str = ""
    """What the stage teaches: perception, textual_reasoning or visual_reasoning (a label for reports)."""
    method: str = "grpo"
    """`grpo` (RL on verifiable rewards) or `sft`."""
    data: DataConfig = field(default_factory=DataConfig)
    """The stage's own data."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Optimisation settings."""
    freeze_vision: bool = False
    """Freeze the vision tower (the paper does in the textual stage)."""


@dataclass
class EvalConfig:
    """Evaluation on the world's held-out test splits."""

    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """Test splits to score."""
    size: int = 200
    """Items per family (at most `world.test_size`)."""
    batch_size: int = 64
    """Prompts per generation batch."""
    max_new_tokens: int = 128
    """Greedy decoding budget per answer."""
    after_each_stage: bool = True
    """Evaluate the base and every stage (else only the final model)."""


@dataclass
class Recipe:
    """A staged post-training run."""

    name: str = "run"
    """Run name: outputs go to `<output_dir>/<name>/`."""
    seed: int = 0
    """Training seed."""
    output_dir: str = "runs"
    """Where runs are written."""
    threads: int = 0
    """torch CPU threads (0: leave torch's default)."""
    world: WorldSection = field(default_factory=WorldSection)
    """The procedural world (data and test splits)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The base model."""
    stages: list[StageConfig] = field(default_factory=list)
    """Stages in training order."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation after training."""

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


# -------------------------------------------------------------------------------------------- loading
def _build(cls, data: Any, where: str, src: str):
    if not isinstance(data, dict):
        raise RecipeError(f"{src}: {where or 'recipe'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise RecipeError(f"{src}: unknown key {where + key!r} (known: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(hints[key], value, f"{where}{key}", src)
    return cls(**kwargs)


def _coerce(tp, value, where: str, src: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, src)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, where + ".", src)
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{src}: {where} must be a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(item_tp, v, f"{where}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{src}: {where} must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 1e-6 as a string
        except ValueError:
            pass
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise RecipeError(f"{src}: {where} must be {tp.__name__}, got {value!r}")
    return value


def _apply_override(data: dict, dotted: str, value: Any, src: str) -> None:
    """`stages.perception.trainer.steps=5`: list items by index or by their `name`."""
    keys = dotted.split(".")
    node = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            idx = next((j for j, s in enumerate(node) if isinstance(s, dict) and s.get("name") == key), None)
            if idx is None and key.isdigit() and int(key) < len(node):
                idx = int(key)
            if idx is None:
                raise RecipeError(f"{src}: override {dotted!r}: no list item {key!r}")
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
            if node is None:
                raise RecipeError(f"{src}: override {dotted!r}: {key!r} is null")


def validate(recipe: Recipe, src: str) -> None:
    names = [s.name for s in recipe.stages]
    for i, st in enumerate(recipe.stages):
        where = f"stages[{i}]"
        if not st.name:
            raise RecipeError(f"{src}: {where}.name is required")
        if names.count(st.name) > 1:
            raise RecipeError(f"{src}: {where}.name {st.name!r} is used twice")
        if st.method not in ("grpo", "sft"):
            raise RecipeError(f"{src}: {where}.method must be grpo or sft, got {st.method!r}")
        for fam in st.data.families:
            if fam not in FAMILIES:
                raise RecipeError(f"{src}: {where}.data.families: unknown task family {fam!r} "
                                  f"(known: {', '.join(FAMILIES)})")
        if not st.data.families and not st.data.paths:
            raise RecipeError(f"{src}: {where}.data needs families or paths")
        for p in st.data.paths:
            if not Path(p).exists():
                raise RecipeError(f"{src}: {where}.data.paths: file not found: {p}")
        t = st.trainer
        if t.vllm.mode not in ("off", "colocate", "server"):
            raise RecipeError(f"{src}: {where}.trainer.vllm.mode must be off, colocate or server, got {t.vllm.mode!r}")
        if t.prompts_per_rollout and t.prompts_per_rollout % t.prompts_per_step:
            raise RecipeError(f"{src}: {where}.trainer.prompts_per_rollout {t.prompts_per_rollout} is not a multiple "
                              f"of prompts_per_step {t.prompts_per_step}")
        if st.data.size > recipe.world.train_size and st.data.families:
            raise RecipeError(f"{src}: {where}.data.size {st.data.size} exceeds world.train_size "
                              f"{recipe.world.train_size}")
    if recipe.world.option_trace not in ("lookup", "scan", "none"):
        raise RecipeError(f"{src}: world.option_trace must be lookup, scan or none, got {recipe.world.option_trace!r}")
    for fam in recipe.eval.families:
        if fam not in FAMILIES:
            raise RecipeError(f"{src}: eval.families: unknown task family {fam!r} (known: {', '.join(FAMILIES)})")
    if recipe.model.warmstart:
        for fam in recipe.model.warmstart.families:
            if fam not in FAMILIES:
                raise RecipeError(f"{src}: model.warmstart.families: unknown task family {fam!r}")
    if recipe.eval.size > recipe.world.test_size:
        raise RecipeError(f"{src}: eval.size {recipe.eval.size} exceeds world.test_size {recipe.world.test_size}")


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        out.append((key.strip(), yaml.safe_load(raw)))
    return out


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"{path}: recipe not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from e
    src = str(path)
    for key, value in parse_overrides(overrides or []):
        _apply_override(data, key, value, src)
    recipe = _build(Recipe, data, "", src)
    validate(recipe, src)
    return recipe


def to_dict(recipe: Recipe) -> dict:
    return dataclasses.asdict(recipe)
