"""Recipes: YAML loaded into typed dataclasses, with dotted overrides from the command line.

Every field has a docstring below it. Unknown keys, wrong types, values outside a `Literal` field's choices,
numbers out of range (`_RANGES`: sizes and steps > 0, shares within [0, 1], ...), empty lists, null variants,
switches that contradict each other and malformed model references are errors that name the recipe file and
the dotted key, raised by `load_recipe` before any work, so a typo never silently falls back to a default or
fails hours in. Types, choices and ranges are checked by the loader for every section alike; what one section
alone can tell is checked in its `__post_init__` (raising `ConfigError`, which the loader places in the file);
what needs the whole recipe or the file system, in `validate`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from stagewise.data.perception.offline import QuestionStyle
from stagewise.data.perception.rule import FilterRule
from stagewise.world.scene import GRID, Difficulty
from stagewise.world.tasks import (
    FAMILIES,
    AnnotatorConfig,
    DrawConfig,
    WorldConfig,
    check_confusions,
    check_world_config,
)


class RecipeError(ValueError):
    """A recipe problem; the message names the file and the key."""


class ConfigError(ValueError):
    """A section's own check failed. The message starts with the field's key relative to the section (e.g.
    `trainer.group_size must be ...`); the recipe loader puts the section's place and the file in front."""


Dtype = Literal["auto", "bfloat16", "float16", "float32"]
"""What `model.dtype` and `model.train_dtype` may say (stagewise.models.load.resolve_dtype)."""
AttnImplementation = Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"]
"""transformers attention backends `model.attn_implementation` may name."""
VLLMMode = Literal["off", "colocate", "server"]
ScaleRewards = Literal["group", "batch", "none"]
RewardMode = Literal["stagewise", "paper"]
"""stagewise.rewards.REWARD_MODES (not imported here: config stays light; a test checks they agree)."""
Trainable = Literal["all", "vision"]
Method = Literal["grpo", "sft"]
Capability = Literal["", "perception", "textual_reasoning", "visual_reasoning"]
"""What `stages[].capability` may say ('': none)."""
EvalBackend = Literal["auto", "transformers", "vllm", "openai"]
"""stagewise.eval.backends.BACKENDS (not imported here: the recipe loader stays light)."""
VariantKind = Literal["staged", "merged", "caption_sft", "difficulty", "capability_difficulty"]

TRACKERS = ("tensorboard", "wandb", "trackio", "none")
VARIANT_KINDS = typing.get_args(VariantKind)
REWARD_MODES = typing.get_args(RewardMode)
MODEL_PRESETS = ("tiny", "small")
"""stagewise.models.tiny.PRESETS (not imported here: that module loads torch and transformers)."""
DATA_FIELDS = (
    "problem",
    "answer",
    "images",
    "id",
    "solution",
    "caption",
    "pass_rate",
    "answer_kind",
    "source",
)
"""Fields of a stage data row that `data.columns` can map from a source column."""


def _check_families(families: list[str], key: str) -> None:
    for fam in families:
        if fam not in FAMILIES:
            raise ConfigError(f"{key}: unknown task family {fam!r} (known: {', '.join(FAMILIES)})")


def _check_not_empty(items: list, key: str) -> None:
    if not items:
        raise ConfigError(f"{key} is empty; list at least one (or leave the key out for the default)")


def _check_trackers(report_to: str, key: str) -> None:
    for tracker in report_to.split(","):
        if tracker.strip() not in TRACKERS:
            raise ConfigError(f"{key}: unknown tracker {tracker.strip()!r} (known: {', '.join(TRACKERS)})")


@dataclass
class WorldSection(DrawConfig):
    """The procedural world the embedded default trains and evaluates on: how it draws items
    (stagewise.world.tasks.DrawConfig), the seed and the split sizes."""

    seed: int = 0
    """Seed of every generated split (train and test never share an item)."""
    train_size: int = 2000
    """Training items generated per family (stages take the first `data.size` of them). The warm start has a
    split of its own (`model.warmstart.size` items per family, never shared with train or test), so the RL
    stages train on items the base has not seen."""
    test_size: int = 200
    """Held-out test items per family."""

    def __post_init__(self):
        if self.difficulty.min_objects > self.difficulty.max_objects:
            raise ConfigError(
                f"difficulty.min_objects {self.difficulty.min_objects} exceeds max_objects "
                f"{self.difficulty.max_objects}"
            )
        try:
            check_world_config(self.world_config())
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def world_config(self, annotator: AnnotatorConfig | None = None) -> WorldConfig:
        """The world generator's settings: this section's, with `annotator`'s mis-seeing (the warm
        start's)."""
        draw = {f.name: getattr(self, f.name) for f in dataclasses.fields(DrawConfig)}
        seen = (
            {f.name: getattr(annotator, f.name) for f in dataclasses.fields(AnnotatorConfig)}
            if annotator
            else {}
        )
        return WorldConfig(**draw, **seen)


@dataclass
class WarmstartConfig(AnnotatorConfig):
    """SFT on world reference traces that turns the random tiny model into the base the stages start from,
    optionally written up by a mis-seeing annotator (stagewise.world.tasks.AnnotatorConfig), so that the base
    inherits a systematic perception error that sampling still sometimes gets right, as real VLMs mis-see."""

    steps: int = 600
    """Optimizer steps of SFT."""
    save_steps: int = 100
    """Checkpoint every this many steps (a killed warm start resumes from the last one); 0: never."""
    batch_size: int = 32
    """Sequences per step."""
    learning_rate: float = 2e-3
    """Peak learning rate (cosine decay after a short warmup)."""
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """World families whose reference traces are trained on."""
    size: int = 2000
    """Items taken per family."""
    describe: bool = False
    """Also train "Describe what you see." -> the scene inventory on every image of the warm-start data, a
    dense image-grounded target like the captioning that real VLMs are pretrained on."""
    caption_qa: int = 0
    """Also train on the perception data engine's questions (offline writer) for this many warm-start images
    per family, each answered once from the image and once from its caption (the filter's prompts): the base
    then reads captions, as the paper's filter models do, so perception-sensitive filtering has something to
    compare. 0: none."""
    report_to: str = "tensorboard"
    """Where the warm start's SFT metrics go besides `trainer_log.jsonl`, as a stage's `trainer.report_to`
    (TensorBoard into `base/logs/`, `wandb`, `trackio`, comma-separated, or `none`)."""

    def __post_init__(self):
        _check_not_empty(self.families, "families")
        _check_families(self.families, "families")
        try:
            check_confusions({str(k): str(v) for k, v in self.confusions.items()})
        except ValueError as e:
            raise ConfigError(f"confusions: {e}") from None
        _check_trackers(self.report_to, "report_to")


@dataclass
class ModelConfig:
    """Where the base model comes from."""

    source: str = "tiny"
    """A preset name (`tiny`, `small`: built locally), a hub id (`org/name`), or a local model folder
    (relative to the recipe file or to the working directory). Checked at load: a folder must exist, anything
    else must be a preset or have the form of a hub id; the Hub itself is asked (briefly, or only the local
    cache under HF_HUB_OFFLINE) when the model is loaded (stagewise.models.load.check_model_ref)."""
    warmstart: WarmstartConfig | None = None
    """SFT warm start on world traces before the stages; null to start the stages from `source` directly."""
    corpus_size: int = 1500
    """World items per family used to train the tiny model's tokenizer (presets only)."""
    dtype: Dtype = "auto"
    """Weights dtype of every load outside training (evaluation, difficulty, the perception filter,
    diagnosis): `auto` (bfloat16 on a CUDA GPU that has it, float32 otherwise), `bfloat16`, `float16` or
    `float32`. Those loads go on the GPU when there is one."""
    train_dtype: Dtype = "float32"
    """Weights dtype a stage trains from. float32 keeps master weights that bf16 autocast (`trainer.bf16`)
    computes in, so that lr-1e-6 updates are not rounded away as they are on bfloat16 weights;
    `auto`/`bfloat16` halves the load where DeepSpeed keeps its own fp32 master copy (ZeRO) or memory is
    short."""
    attn_implementation: AttnImplementation | None = None
    """transformers `attn_implementation` of every load (`sdpa`, `flash_attention_2` with the `[flash]` extra,
    `eager`); null: transformers' default for the model."""
    min_pixels: int | None = None
    """Training images smaller than this (width x height) are scaled up to it, aspect kept (EasyR1
    `data.min_pixels`; the paper: 262144); null: as they are."""
    max_pixels: int | None = None
    """Training images larger than this are scaled down to it before the processor sees them (EasyR1
    `data.max_pixels`; the paper: 4194304 on Qwen); null: as they are."""

    def __post_init__(self):
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ConfigError(f"min_pixels {self.min_pixels} exceeds model.max_pixels {self.max_pixels}")


@dataclass
class DataConfig:
    """What a stage trains on: world families and/or files."""

    families: list[str] = field(default_factory=list)
    """World task families (perception, visual, textual), read from the run's generated world data."""
    size: int = 1000
    """Items taken per family (from the world's train split)."""
    paths: list[str] = field(default_factory=list)
    """Data sources, each one of: a JSONL/JSON/parquet/arrow/CSV file; a folder saved with `save_to_disk`
    (Dataset or DatasetDict); a folder `datasets.load_dataset` reads (parquet, arrow, JSON, imagefolder); a
    hub dataset id `org/name` (EasyR1's `org/name@split` picks the split). Rows need `problem` and `answer`
    (see `columns`); images (paths, bytes or `datasets.Image`, one or a list) stay encoded until a batch needs
    them."""
    columns: dict[str, str] = field(default_factory=dict)
    """Field -> source column for every path of this stage, e.g. the paper's perception data (EasyR1
    `prompt_key`/`image_key`): `{problem: prompt, images: image_path}`."""
    image_dir: str | None = None
    """Folder relative image paths are read from (EasyR1 `data.image_dir`); default: the data file's
    folder."""
    split: str = "train"
    """Split read from a hub dataset, a DatasetDict or a `load_dataset` folder."""
    config_name: str | None = None
    """Hub dataset configuration (subset) name."""
    revision: str | None = None
    """Hub dataset revision (branch, tag or commit)."""
    max_prompt_tokens: int | None = None
    """Rows whose prompt (text and image tokens, images fitted to `model.min/max_pixels`) is longer than this
    are dropped before training, with a count per source in the log (EasyR1 `max_prompt_length`; the paper:
    2048 on Qwen, 4096 on InternVL3); null: no limit."""
    perception_set: bool = False
    """Train on the perception data engine's output (recipe section `perception_set`): questions written from
    the world's captions and kept by perception-sensitive filtering with the base; `data.size` caps the
    rows."""
    instruction: str | None = "think_boxed"
    """Prompt template appended to every question (`prompts/<name>.txt`); null for none."""
    mix: dict[str, float] = field(default_factory=dict)
    """Mixing ratios within the stage, source (a family or a path) -> share, e.g. `{perception: 0.7, visual:
    0.3}`: the stage then trains on `size` items drawn with these shares. Empty: every source's items,
    pooled."""

    def __post_init__(self):
        _check_families(self.families, "families")
        for fld in self.columns:
            if fld not in DATA_FIELDS:
                raise ConfigError(f"columns: unknown field {fld!r} (fields: {', '.join(DATA_FIELDS)})")
        sources = (
            set(self.families) | set(self.paths) | ({"perception_set"} if self.perception_set else set())
        )
        for key, share in self.mix.items():
            if key not in sources:
                raise ConfigError(
                    f"mix names {key!r}, which is not one of the stage's families or paths "
                    f"({', '.join(sorted(sources))})"
                )
            if share < 0:
                raise ConfigError(f"mix.{key} must be >= 0, got {share}")
        if self.mix and sum(self.mix.values()) <= 0:
            raise ConfigError("mix shares must sum to more than 0")


@dataclass
class VLLMConfig:
    """Rollouts with vLLM through TRL (`use_vllm`); off by default, as the tiny model generates on CPU."""

    mode: VLLMMode = "off"
    """`off` (transformers `generate`), `colocate` (vLLM inside every training process, sharing its GPU) or
    `server` (`trl vllm-serve` on GPUs of its own, started and stopped by the launcher for each stage)."""
    gpu_memory_utilization: float = 0.3
    """Share of each GPU's memory vLLM may take (colocate: shared with training; server: the server's
    GPUs)."""
    tensor_parallel_size: int = 1
    """vLLM tensor parallel size (colocate: over training ranks; server: over the server's GPUs)."""
    server_gpus: int = 1
    """Server mode: GPUs on the first machine given to `trl vllm-serve` (the last ones); training gets the
    rest."""
    server_port: int = 8000
    """Server mode: HTTP port of `trl vllm-serve` (TRL `vllm_server_port`)."""
    server_host: str = "127.0.0.1"
    """Server mode: address trainers reach the server at (the launcher uses the main process address on
    multi-node runs)."""
    max_model_length: int | None = None
    """vLLM context window (prompt + completion tokens); null: from the model config."""
    enable_sleep_mode: bool = False
    """Colocate: offload vLLM weights and KV cache during the optimizer step (TRL
    `vllm_enable_sleep_mode`)."""


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

    def __post_init__(self):
        _check_not_empty(self.target_modules, "target_modules")


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
    scale_rewards: ScaleRewards = "group"
    """Advantage normalisation by group std (`group`, `batch` or `none`)."""
    reward_mode: RewardMode | None = None
    """How completions are graded: `stagewise` or `paper` (see `RewardConfig.mode`); null: the recipe's
    `reward.mode`, filled in when the recipe is loaded, so plans and stage manifests record the mode used."""
    batch_size: int = 32
    """Sequences per step for method `sft`."""
    logging_steps: int = 5
    """Log every N steps."""
    report_to: str = "tensorboard"
    """Where training metrics (reward parts, lengths, KL) go besides `trainer_log.jsonl`: `tensorboard` (into
    `<stage>/logs/`), `wandb`, `trackio`, several comma-separated, or `none`. A tracker whose package is not
    installed is skipped with a warning, so training never fails for want of a logger."""
    save_steps: int = 0
    """Save a TRL checkpoint every N steps (0: only the final model). A killed run resumes from the last
    one."""
    save_total_limit: int | None = 2
    """Checkpoints kept on disk (TRL `save_total_limit`; the oldest are deleted); null keeps all. A
    paper-scale checkpoint with optimizer state is about 3x the model (50 GB for an 8B model in bf16 with fp32
    Adam)."""
    shuffle: bool = True
    """Shuffle the stage's data (TRL `shuffle_dataset`); curricula turn it off to keep their order."""
    epochs: int = 1
    """Passes over the stage's data within `steps`: the stage trains on `steps x prompts_per_step / epochs` of
    its rows, each seen `epochs` times (curricula: easy to hard in every pass, as the paper's sorted data with
    shuffling off; paper: 16/15/15). 1: the rows as given, read once or cycled as TRL does."""
    trainable: Trainable = "all"
    """Which weights train: `all`, or `vision` (the vision tower and merger only, language model frozen). A
    vision-only perception stage cannot learn a per-question-kind answer prior, since the vision tower never
    sees the question (see BENCHMARKS.md: GRPO on the tiny model otherwise collapses each kind onto one
    letter). Pooled runs (merged, curricula) train everything."""
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

    def __post_init__(self):
        _check_trackers(self.report_to, "report_to")
        if (
            self.prompts_per_rollout
            and self.prompts_per_step
            and self.prompts_per_rollout % self.prompts_per_step
        ):
            raise ConfigError(
                f"prompts_per_rollout {self.prompts_per_rollout} is not a multiple of prompts_per_step "
                f"{self.prompts_per_step}"
            )


@dataclass
class StageConfig:
    """One stage of post-training. It starts from the previous stage's saved model."""

    name: str = ""
    """Folder name under the run (`runs/<run>/<name>/`)."""
    capability: Capability = ""
    """What the stage teaches: perception, textual_reasoning or visual_reasoning (a label for reports; empty:
    none). The caption-SFT variant replaces the stage whose capability is perception."""
    method: Method = "grpo"
    """`grpo` (RL on verifiable rewards) or `sft`."""
    data: DataConfig = field(default_factory=DataConfig)
    """The stage's own data."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Optimisation settings."""
    freeze_vision: bool = False
    """Freeze the vision tower (the paper does in the textual stage)."""

    def __post_init__(self):
        t = self.trainer
        if not self.name:
            raise ConfigError("name is required")
        if self.method == "grpo" and t.group_size < 2:
            raise ConfigError(
                f"trainer.group_size must be >= 2 for a grpo stage (advantages compare the "
                f"completions of one prompt), got {t.group_size}"
            )
        if (
            self.method == "grpo"
            and t.gradient_accumulation_steps
            and (t.prompts_per_step * t.group_size) % t.gradient_accumulation_steps
        ):
            raise ConfigError(
                f"trainer.prompts_per_step x group_size = {t.prompts_per_step * t.group_size} "
                f"completions cannot be split over gradient_accumulation_steps "
                f"{t.gradient_accumulation_steps}"
            )
        if self.freeze_vision and t.trainable == "vision":
            raise ConfigError(
                "freeze_vision: true and trainer.trainable: vision leave nothing to train (one "
                "freezes the vision tower, the other everything else); drop one"
            )
        if t.lora is not None:
            if self.method != "grpo":
                raise ConfigError(
                    f"trainer.lora: LoRA applies to grpo stages only; method {self.method} trains "
                    "every weight"
                )
            if t.trainable == "vision":
                raise ConfigError(
                    "trainer.trainable: vision cannot be combined with trainer.lora (LoRA freezes "
                    "every base weight and trains adapters; use lora.vision: true for adapters on "
                    "the vision tower)"
                )
            if self.freeze_vision and t.lora.vision:
                raise ConfigError(
                    "freeze_vision: true and trainer.lora.vision: true contradict each other "
                    "(adapters on a frozen vision tower); drop one"
                )


@dataclass
class BenchmarkSpec:
    """One benchmark scored after each stage besides the world's test splits (stagewise.eval.benchmarks)."""

    name: str = ""
    """A benchmark (`stagewise eval list`), a suite (`paper-main`: the paper's 8 main benchmarks,
    `paper-extended`: its 10 extended ones) or another harness's name (`MathVista_MINI`); suites expand into
    one entry per benchmark, each with this entry's other settings."""
    data: str | None = None
    """Annotations: hub id, local folder, or JSON/JSONL/parquet/TSV file; null for the benchmark's hub id."""
    images: str | None = None
    """Folder the annotations' image paths are relative to (default: the annotation file's folder)."""
    subset: str | None = None
    """Benchmark subset where it has one (MathVerse versions, POPE category)."""
    limit: int | None = None
    """First N items only (quick runs)."""
    mode: str = "official"
    """Scoring mode: official, or a named harness mode of that benchmark."""
    instruction: str | None = "think_boxed"
    """Template appended to each question; trained models are prompted as in training, null for none."""
    max_new_tokens: int | None = None
    """Decoding budget; null: `eval.max_new_tokens`."""


@dataclass
class EvalConfig:
    """Evaluation on the world's held-out test splits, and optionally on benchmarks."""

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
    benchmarks: list[BenchmarkSpec] = field(default_factory=list)
    """Benchmarks also scored for each evaluated model, into `eval/<model>/<benchmark>/`."""
    backend: EvalBackend = "auto"
    """Generation backend of every evaluation (world splits and benchmarks): `auto` (vLLM where the `[vllm]`
    extra is installed and a GPU is there, else transformers), `transformers` (batched, on the GPU in
    `model.dtype` when there is one), `vllm`, or `openai` (a server at `base_url` that serves each evaluated
    model folder under its path, e.g. `vllm serve <folder>`)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint of the `openai` backend (e.g. http://localhost:8000/v1)."""

    def __post_init__(self):
        _check_not_empty(self.families, "families")
        _check_families(self.families, "families")
        if self.backend == "openai" and not self.base_url:
            raise ConfigError("backend openai needs eval.base_url (e.g. http://localhost:8000/v1)")


@dataclass
class CaptionSFTConfig:
    """The caption-SFT baseline's stage: SFT on (image, caption prompt) -> the image's dense caption."""

    steps: int | None = None
    """Optimizer steps; null: the replaced perception stage's steps."""
    batch_size: int | None = None
    """Sequences per step; null: the replaced stage's completions per step (prompts x group size), so both
    see the same number of sequences."""
    learning_rate: float | None = None
    """Null: the replaced stage's learning rate."""
    prompt: str = "caption"
    """Prompt template (`prompts/caption.txt`: "Please generate a detailed caption ...")."""


@dataclass
class VariantConfig:
    """One arm of the experiment grid: a small change to the recipe's stages, never a copy of them."""

    kind: VariantKind = "staged"
    """`staged` (stages in `order`, each from the previous), `merged` (the stages' data pooled and shuffled
    into one GRPO run with the summed steps), `caption_sft` (caption SFT in place of the perception stage,
    then the rest), `difficulty` (pooled data ordered easy to hard, no shuffling, one run) or
    `capability_difficulty` (the stages in order, each one's data sorted easy to hard, no shuffling)."""
    order: list[str] = field(default_factory=list)
    """Stage names in training order (a subset is allowed); empty: the recipe's order."""
    freeze_vision: bool | None = None
    """Freeze the vision tower in the pooled run of `merged`/`difficulty` (the paper does); null: yes."""
    caption_sft: CaptionSFTConfig = field(default_factory=CaptionSFTConfig)
    """Settings of the caption-SFT stage (kind `caption_sft`)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted recipe overrides for this variant only, e.g. `{stages.visual.trainer.steps: 200}`."""

    def __post_init__(self):
        repeated = sorted({s for s in self.order if self.order.count(s) > 1})
        if repeated:
            raise ConfigError(f"order repeats stage {', '.join(map(repr, repeated))}")
        for key in self.overrides:
            if key.split(".")[0] in ("variants", "seeds"):
                raise ConfigError(f"overrides: {key!r} cannot be overridden per variant")


@dataclass
class DifficultyConfig:
    """Difficulty as pass rate over k samples of a model (the paper: k=16, temperature 0.7, top_p 0.9)."""

    k: int = 16
    """Samples per item."""
    temperature: float = 0.7
    """Sampling temperature."""
    top_p: float = 0.9
    """Nucleus sampling."""
    max_new_tokens: int = 128
    """Tokens per sample."""
    batch_size: int = 64
    """Prompts per generation batch (each expanded to k samples)."""
    model: str | None = "base"
    """Whose pass rate: `base` (the run's base model), a model path / hub id, or null to use the data's own
    `pass_rate` column (from `stagewise data difficulty`)."""
    drop_solved: bool = False
    """Drop items with pass rate 1 (nothing left to learn)."""
    drop_unsolved: bool = False
    """Drop items with pass rate 0 (no reward signal for GRPO)."""


@dataclass
class PerceptionSetConfig(FilterRule):
    """The paper's perception data built inside a run (stagewise.data.perception): the offline writer turns
    the world's captions and scene graphs into multiple-choice questions, the base model filters them (kept:
    wrong from the image, right from the caption; the rule: stagewise.data.perception.rule.FilterRule), and
    stages with `data.perception_set` train on what is kept."""

    families: list[str] = field(default_factory=lambda: ["perception"])
    """World families whose train images and captions questions are written from."""
    question_style: QuestionStyle = "varied"
    """The offline writer's questions (stagewise.data.perception.offline.QuestionStyle); also the style of the
    warm start's `caption_qa` rows."""
    balance: bool = False
    """Even out the kept items' gold letters per question kind (each kind's letters capped at its rarest one's
    count): what the filter keeps bunches on the answers the model mis-sees, and GRPO learns that skew."""
    limit: int | None = None
    """At most this many images (all of them: null)."""
    filter_model: str = "base"
    """`base` (the run's base model) or a model folder / hub id."""
    batch_size: int = 64
    """Prompts per generation batch."""

    def __post_init__(self):
        _check_not_empty(self.families, "families")
        for fam in self.families:
            if fam not in ("perception", "visual"):
                raise ConfigError(f"families: {fam!r} has no images (use perception, visual)")


@dataclass
class RewardConfig:
    """How GRPO completions are graded: 0.9 x accuracy + 0.1 x format in every mode."""

    mode: RewardMode = "stagewise"
    """`stagewise`: the shared verifier (math_verify behind structural guards), crediting only a boxed answer;
    `paper`: the paper's own reward function rule for rule (mathruler's last-box extraction and grading). A
    stage's `trainer.reward_mode` overrides it."""


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
    variants: dict[str, VariantConfig] = field(default_factory=dict)
    """Experiment arms, name -> variant; empty: one `staged` variant with the stages in order."""
    seeds: list[int] = field(default_factory=list)
    """Training seeds for `stagewise grid` (variants x seeds); empty: just `seed`."""
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    """How pass rates are estimated for the difficulty curricula."""
    perception_set: PerceptionSetConfig | None = None
    """The perception data engine run on the world (for stages with `data.perception_set`); null: none."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """The reward mode of every GRPO stage that does not set its own `trainer.reward_mode`."""
    project: str | None = None
    """Tracker project (W&B, trackio) that every trainer and the evaluation log into, each run named
    `<name>/<variant>/seed<k>/<stage>` and grouped by arm and seed (stagewise.train.tracking); null: the
    recipe's `name`."""

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


# ------------------------------------------------------------------------------------------- bounds
@dataclass(frozen=True)
class _Range:
    """Allowed values of a number: `lo`/`hi` (None: unbounded), open or closed."""

    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    hi_open: bool = False

    def __contains__(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return f"within {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


_POS = _Range(0, lo_open=True)  # counts, sizes, steps, rates
_NONNEG = _Range(0)  # may be switched off with 0
_SHARE = _Range(0, hi=1)  # probabilities and shares
_TOP_P = _Range(0, lo_open=True, hi=1)
# Every int and float field of the recipe's dataclasses is listed here or in _ANY_NUMBER (a test checks), so a
# new field cannot slip through unchecked. Optional fields may be null; their bound applies when set.
_RANGES: dict[type, dict[str, _Range]] = {
    WorldSection: {
        "image_size": _POS,
        "chart_share": _SHARE,
        "recheck_prob": _SHARE,
        "train_size": _POS,
        "test_size": _POS,
    },
    Difficulty: {
        "min_objects": _Range(1, hi=GRID * GRID),
        "max_objects": _Range(1, hi=GRID * GRID),
        "clutter": _NONNEG,
        "label_prob": _SHARE,
        "steps": _Range(1),
        "max_bar": _Range(1),
    },
    WarmstartConfig: {
        "steps": _POS,
        "save_steps": _NONNEG,
        "batch_size": _POS,
        "learning_rate": _POS,
        "size": _POS,
        "caption_qa": _NONNEG,
        "confusion_rate": _SHARE,
        "hedge_rate": _SHARE,
    },
    ModelConfig: {"corpus_size": _POS, "min_pixels": _POS, "max_pixels": _POS},
    DataConfig: {"size": _POS, "max_prompt_tokens": _POS},
    VLLMConfig: {
        "gpu_memory_utilization": _TOP_P,
        "tensor_parallel_size": _POS,
        "server_gpus": _POS,
        "server_port": _Range(1, hi=65535),
        "max_model_length": _POS,
    },
    LoRAConfig: {"r": _POS, "alpha": _POS, "dropout": _Range(0, hi=1, hi_open=True)},
    TrainerConfig: {
        "steps": _POS,
        "learning_rate": _POS,
        "weight_decay": _NONNEG,
        "warmup_steps": _NONNEG,
        "prompts_per_step": _POS,
        "group_size": _POS,
        "beta": _NONNEG,
        "clip_low": _NONNEG,
        "clip_high": _NONNEG,
        "temperature": _POS,
        "top_p": _TOP_P,
        "max_completion_length": _POS,
        "batch_size": _POS,
        "logging_steps": _POS,
        "save_steps": _NONNEG,
        "save_total_limit": _POS,
        "gradient_accumulation_steps": _POS,
        "prompts_per_rollout": _POS,
        "max_grad_norm": _NONNEG,
        "epochs": _POS,
    },
    BenchmarkSpec: {"limit": _POS, "max_new_tokens": _POS},
    EvalConfig: {"size": _POS, "batch_size": _POS, "max_new_tokens": _POS},
    CaptionSFTConfig: {"steps": _POS, "batch_size": _POS, "learning_rate": _POS},
    DifficultyConfig: {
        "k": _POS,
        "temperature": _POS,
        "top_p": _TOP_P,
        "max_new_tokens": _POS,
        "batch_size": _POS,
    },
    PerceptionSetConfig: {
        "limit": _POS,
        "max_new_tokens": _POS,
        "samples": _POS,
        "min_image_wrong": _SHARE,
        "min_caption_right": _SHARE,
        "batch_size": _POS,
    },
    Recipe: {"threads": _NONNEG},
}
_ANY_NUMBER = {
    (WorldSection, "seed"),
    (Recipe, "seed"),
    (Recipe, "seeds"),
    (DataConfig, "mix"),
    (WorldSection, "trace_styles"),
}
"""Numbers not bounded by _RANGES: seeds (any integer), the `data.mix` shares and the trace-style proportions
(checked in validate)."""


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check_bounds(cls: type, values: dict, where: str, src: str) -> None:
    """The numbers of one section given in a recipe against `_RANGES` (a field left out keeps its default,
    which a test checks is in range)."""
    for key, bound in _RANGES.get(cls, {}).items():
        value = values.get(key)
        if value is not None and value not in bound:
            raise RecipeError(f"{src}: {where}{key} must be {bound}, got {value!r}")


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
    _check_bounds(cls, kwargs, where, src)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise RecipeError(f"{src}: {where}{e}") from None


def _choices(tp, nullable: bool) -> str:
    return ", ".join(v if v else "''" for v in typing.get_args(tp)) + (", or null" if nullable else "")


def _coerce(tp, value, where: str, src: str, nullable: bool = False):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, src, nullable=True)
    if origin is Literal:
        if value is False and "off" in typing.get_args(tp):
            value = "off"  # YAML 1.1 reads a bare `off` as false
        if not isinstance(value, str) or value not in typing.get_args(tp):
            raise RecipeError(f"{src}: {where} must be one of {_choices(tp, nullable)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, where + ".", src)
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{src}: {where} must be a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp)
        for i, v in enumerate(value):
            if v is None and dataclasses.is_dataclass(item_tp):
                raise RecipeError(f"{src}: {where}[{i}] is null; each item must be a mapping")
        return [_coerce(item_tp, v, f"{where}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RecipeError(f"{src}: {where} must be a mapping, got {type(value).__name__}")
        _, val_tp = typing.get_args(tp)
        for k, v in value.items():
            if v is None and val_tp is VariantConfig:
                # `merged:` with nothing under it means `{kind: merged}` or `{}`; silently taking it as a
                # staged arm named merged would train the wrong thing under the right name
                hint = (
                    f"`{k}: {{kind: {k}}}` for the {k} arm, " if k in VARIANT_KINDS and k != "staged" else ""
                )
                raise RecipeError(
                    f"{src}: {where}.{k} is null; a variant must be a mapping ({hint}`{k}: {{}}` for "
                    f"the stages in order; kinds: {', '.join(VARIANT_KINDS)})"
                )
            if v is None and dataclasses.is_dataclass(val_tp):
                raise RecipeError(
                    f"{src}: {where}.{k} is null; it must be a mapping (`{{}}` for the defaults)"
                )
        return {k: _coerce(val_tp, v, f"{where}.{k}", src) for k, v in value.items()}
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


def _unoptional(tp):
    """`X | None` -> X (and whether None was allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _is_section(tp) -> bool:
    return tp is Any or dataclasses.is_dataclass(tp) or typing.get_origin(tp) in (dict, list)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _apply_override(data: dict, dotted: str, value: Any, src: str) -> None:
    """`stages.perception.trainer.steps=5`: list items by index or by their `name`. The key path is checked
    against the recipe's fields as it is walked: an unknown key, or a key under a plain value (`seed.x`), is
    an error naming the override."""
    keys = dotted.split(".")
    if not all(keys):
        raise RecipeError(f"{src}: override {dotted!r}: empty key in the dotted path")
    node: Any = data
    tp: Any = Recipe
    where = ""
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        tp, _ = _unoptional(tp)
        if not _is_section(tp):
            raise RecipeError(
                f"{src}: override {dotted!r}: {where!r} is a scalar ({_type_name(tp)}), not a "
                f"section, so it has no key {key!r} (write `{where}=<value>`)"
            )
        if node is None:
            raise RecipeError(f"{src}: override {dotted!r}: {where!r} is not set, so it has no item {key!r}")
        if not isinstance(node, (dict, list)):
            raise RecipeError(
                f"{src}: override {dotted!r}: {where!r} is {node!r}, not a section, so it has no key {key!r}"
            )
        if isinstance(node, list):
            idx = next((j for j, s in enumerate(node) if isinstance(s, dict) and s.get("name") == key), None)
            if idx is None and key.isdigit() and int(key) < len(node):
                idx = int(key)
            if idx is None:
                names = [s.get("name") for s in node if isinstance(s, dict) and s.get("name")]
                known = (
                    f" (items: {', '.join(names)}, or an index below {len(node)})"
                    if names
                    else f" (indices below {len(node)})"
                )
                raise RecipeError(f"{src}: override {dotted!r}: no list item {key!r} in {where!r}{known}")
            where = f"{where}[{idx}]"
            tp = typing.get_args(tp)[0] if typing.get_origin(tp) is list else Any
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if key not in hints:
                raise RecipeError(
                    f"{src}: unknown key {_join(where, key)!r} (known: {', '.join(sorted(hints))}), "
                    f"in override {dotted!r}"
                )
            child_tp = hints[key]
        elif typing.get_origin(tp) is dict:
            child_tp = typing.get_args(tp)[1]
        else:
            child_tp = Any
        if last:
            node[key] = value
            return
        inner, optional = _unoptional(child_tp)
        if node.get(key) is None:
            if key in node and optional:
                raise RecipeError(f"{src}: override {dotted!r}: {_join(where, key)!r} is null")
            if _is_section(inner) and typing.get_origin(inner) is not list:
                node[key] = {}
        node, tp, where = node.get(key), child_tp, _join(where, key)


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")


def _check_model_ref(ref: str, where: str, src: str, named: tuple[str, ...]) -> None:
    """A model reference: one of `named` (presets, `base`), an existing folder (relative to the working
    directory; `model.source` was already resolved beside the recipe) or a hub id `org/name`. Only the form is
    checked here, without the network; stagewise.models.load.check_model_ref asks the Hub when the model is
    loaded."""
    if ref in named or Path(ref).expanduser().exists():
        return
    if ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") > 1:
        raise RecipeError(
            f"{src}: {where}: model folder not found: {ref} (relative paths are read from the working "
            f"directory {Path.cwd()}" + (" or the recipe's folder)" if where == "model.source" else ")")
        )
    choices = f"{' or '.join(map(repr, named))}, " if named else ""
    if "/" not in ref:
        raise RecipeError(
            f"{src}: {where}: {ref!r} is not {choices}an existing model folder, or a hub id (org/name)"
        )
    if not _HUB_ID.fullmatch(ref) or "--" in ref or ".." in ref or ref.endswith((".git", ".", "-")):
        raise RecipeError(
            f"{src}: {where}: {ref!r} is not a valid hub id (org/name of letters, digits, '-', '_', "
            "'.') and no such folder exists"
        )


def validate(recipe: Recipe, src: str) -> None:
    """What no section can tell alone: checks across sections, and against the file system."""
    from stagewise.data.sources import is_hub_dataset_id

    if not recipe.stages:
        raise RecipeError(f"{src}: stages is empty; a recipe needs at least one stage (name, data, trainer)")
    _check_model_ref(recipe.model.source, "model.source", src, MODEL_PRESETS)
    if recipe.difficulty.model is not None:
        _check_model_ref(recipe.difficulty.model, "difficulty.model", src, ("base",))
    if recipe.perception_set is not None:
        _check_model_ref(recipe.perception_set.filter_model, "perception_set.filter_model", src, ("base",))
    names = [s.name for s in recipe.stages]
    for i, st in enumerate(recipe.stages):
        where = f"stages[{i}]"
        if names.count(st.name) > 1:
            raise RecipeError(f"{src}: {where}.name {st.name!r} is used twice")
        if not st.data.families and not st.data.paths and not st.data.perception_set:
            raise RecipeError(f"{src}: {where}.data needs families, paths or perception_set")
        if st.data.perception_set and recipe.perception_set is None:
            raise RecipeError(
                f"{src}: {where}.data.perception_set needs a top-level `perception_set:` section"
            )
        for p in st.data.paths:
            if not Path(p).expanduser().exists() and not is_hub_dataset_id(p):
                pull = (
                    " (the paper's data: run `stagewise data pull paper --out data/paper` first)"
                    if Path(p).parts[:2] == ("data", "paper")
                    else " (nor is it a hub dataset id org/name)"
                )
                raise RecipeError(f"{src}: {where}.data.paths: file not found: {p}{pull}")
        if st.data.image_dir is not None and not Path(st.data.image_dir).expanduser().is_dir():
            raise RecipeError(f"{src}: {where}.data.image_dir: folder not found: {st.data.image_dir}")
        if st.data.size > recipe.world.train_size and st.data.families:
            raise RecipeError(
                f"{src}: {where}.data.size {st.data.size} exceeds world.train_size {recipe.world.train_size}"
            )
    _validate_variants(recipe, src)
    _check_model_family(recipe, src)
    _check_trainer_extra(recipe, src)
    if recipe.eval.benchmarks:
        from stagewise.eval.benchmarks import BENCHMARKS

        for i, spec in enumerate(recipe.eval.benchmarks):
            if spec.name not in BENCHMARKS:
                raise RecipeError(
                    f"{src}: eval.benchmarks[{i}].name: unknown benchmark {spec.name!r} "
                    f"(known: {', '.join(BENCHMARKS)})"
                )
            modes = (*BENCHMARKS[spec.name].MODES, "chain")  # chain: the harness's reading (eval.harness)
            if spec.mode not in modes:
                raise RecipeError(
                    f"{src}: eval.benchmarks[{i}].mode: {spec.name} has modes "
                    f"{', '.join(modes)}, not {spec.mode!r}"
                )
    if recipe.eval.size > recipe.world.test_size:
        raise RecipeError(
            f"{src}: eval.size {recipe.eval.size} exceeds world.test_size {recipe.world.test_size}"
        )


def _vision_switches(recipe: Recipe) -> list[str]:
    """Where the recipe separates the vision tower and projector from the language model."""
    out = []
    for i, st in enumerate(recipe.stages):
        if st.freeze_vision:
            out.append(f"stages[{i}].freeze_vision")
        if st.trainer.trainable == "vision":
            out.append(f"stages[{i}].trainer.trainable: vision")
        if st.trainer.lora is not None and not st.trainer.lora.vision:
            out.append(f"stages[{i}].trainer.lora (vision excluded)")
    for name, v in recipe.variants.items():
        if v.kind in ("merged", "difficulty") and v.freeze_vision is not False:
            out.append(f"variants.{name} (a pooled run freezes the vision tower)")
    return out


def _check_model_family(recipe: Recipe, src: str) -> None:
    """A model folder of a family whose vision modules stagewise does not know fails here, not at its first
    frozen stage (hub ids are checked when loaded: their config is not read without the network)."""
    from stagewise.models.families import UnsupportedModelError, family, folder_model_type

    source = recipe.model.source
    model_type = None if source in MODEL_PRESETS else folder_model_type(Path(source).expanduser())
    switches = _vision_switches(recipe)
    if model_type is None or not switches:
        return
    try:
        family(model_type, source)
    except UnsupportedModelError as e:
        raise RecipeError(f"{src}: model.source: {e} (used by {', '.join(switches)})") from None


def _check_trainer_extra(recipe: Recipe, src: str) -> None:
    """`trainer.extra` keys must be GRPOConfig fields: a typo fails at load, not when its stage's config is
    built hours into a run. trl is imported only for a recipe that has such keys (it loads torch)."""
    stages = [(i, st) for i, st in enumerate(recipe.stages) if st.trainer.extra]
    if not stages:
        return
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    for i, st in stages:
        if st.method != "grpo":
            raise RecipeError(
                f"{src}: stages[{i}].trainer.extra: only grpo stages pass extra keys to TRL "
                f"(this stage's method is {st.method})"
            )
        for key in st.trainer.extra:
            if key not in known:
                close = sorted(k for k in known if key.split("_")[0] in k)[:5]
                hint = f" (similar: {', '.join(close)})" if close else ""
                raise RecipeError(
                    f"{src}: stages[{i}].trainer.extra.{key}: not a field of TRL's GRPOConfig{hint}"
                )


def _validate_variants(recipe: Recipe, src: str) -> None:
    names = [s.name for s in recipe.stages]
    if len(set(recipe.seeds)) != len(recipe.seeds):
        raise RecipeError(f"{src}: seeds has a repeated seed: {recipe.seeds}")
    for vname, v in recipe.variants.items():
        where = f"variants.{vname}"
        if "/" in vname or not vname:
            raise RecipeError(f"{src}: {where}: a variant name must be a non-empty folder name")
        for s in v.order:
            if s not in names:
                raise RecipeError(
                    f"{src}: {where}.order names stage {s!r}, which the recipe does not have "
                    f"(stages: {', '.join(names)})"
                )
        stages = [st for st in recipe.stages if not v.order or st.name in v.order]
        if v.kind == "caption_sft" and not any(st.capability == "perception" for st in stages):
            raise RecipeError(
                f"{src}: {where}: caption_sft replaces the perception stage, but no stage in its "
                "order has capability perception"
            )
        if v.kind in ("difficulty", "capability_difficulty") and recipe.difficulty.model is None:
            for st in stages:
                if st.data.families:
                    raise RecipeError(
                        f"{src}: {where}: the {v.kind} curriculum needs difficulty scores, but "
                        f"difficulty.model is null and stage {st.name!r} trains on world families, which "
                        "carry no pass_rate column (set difficulty.model, e.g. to `base`)"
                    )
                for p in st.data.paths:
                    if "pass_rate" not in st.data.columns and not _has_pass_rate(Path(p)):
                        raise RecipeError(
                            f"{src}: {where}: the {v.kind} curriculum needs difficulty scores, but {p} has "
                            "no pass_rate column and difficulty.model is null (run `stagewise data "
                            "difficulty`)"
                        )


def _has_pass_rate(path: Path) -> bool:
    """Whether a data source carries pass rates, where that is cheap to tell (JSONL, a saved dataset); other
    sources are checked when their rows are read."""
    if not path.exists() or (path.is_file() and path.suffix != ".jsonl"):
        return True
    if path.suffix == ".jsonl":
        first = next((ln for ln in path.read_text().splitlines() if ln.strip()), "")
        try:
            return "pass_rate" in yaml.safe_load(first)
        except (yaml.YAMLError, TypeError):
            return False
    info = path / "dataset_info.json"
    return info.exists() and "pass_rate" in info.read_text()


def variant_names(recipe: Recipe) -> list[str]:
    """The recipe's arms in order; a recipe without `variants` has one, `staged`."""
    return list(recipe.variants) or ["staged"]


def expand_benchmarks(specs: list[BenchmarkSpec]) -> list[BenchmarkSpec]:
    """`eval.benchmarks` with suite names (`paper-main`, `paper-extended`) and other harnesses' names
    (`MathVista_MINI`, ...) replaced by their benchmarks, each entry's other settings carried to every one;
    names stagewise does not know are left for `validate` to report."""
    from stagewise.eval.suites import ALIASES, SUITES

    out = []
    for spec in specs:
        entries = SUITES.get(spec.name) or ((ALIASES[spec.name],) if spec.name in ALIASES else None)
        if entries is None:
            out.append(spec)
            continue
        out += [dataclasses.replace(spec, name=e.name, subset=e.subset or spec.subset) for e in entries]
    return out


def select_variants(recipe: Recipe, names: list[str] | None) -> Recipe:
    """The recipe with only the named arms (`stagewise run --variant NAME`), in the recipe's order."""
    if not names:
        return recipe
    known = variant_names(recipe)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RecipeError(
            f"recipe {recipe.name}: no variant {', '.join(map(repr, unknown))} (variants: {', '.join(known)})"
        )
    if not recipe.variants:
        return recipe
    return dataclasses.replace(recipe, variants={n: v for n, v in recipe.variants.items() if n in names})


def needs_world(recipe: Recipe) -> bool:
    """Whether anything in the recipe reads the procedural world: a stage's families or perception set, the
    warm start (which trains on it) or the evaluation's world splits. A recipe on its own data skips building
    it."""
    return bool(
        recipe.model.warmstart is not None
        or recipe.perception_set is not None
        or recipe.eval.families
        or any(st.data.families or st.data.perception_set for st in recipe.stages)
    )


def get_variant(recipe: Recipe, name: str) -> VariantConfig:
    if name in recipe.variants:
        return recipe.variants[name]
    if not recipe.variants and name == "staged":
        return VariantConfig()
    raise RecipeError(
        f"recipe {recipe.name}: no variant {name!r} (variants: {', '.join(variant_names(recipe))})"
    )


def variant_recipe(recipe: Recipe, name: str, src: str = "recipe") -> Recipe:
    """The recipe as variant `name` trains it: its overrides applied (the variant table itself kept)."""
    v = get_variant(recipe, name)
    if not v.overrides:
        return recipe
    data = to_dict(recipe)
    for key, value in v.overrides.items():
        _apply_override(data, key, value, f"{src} (variants.{name}.overrides)")
    out = _build(Recipe, data, "", f"{src} (variants.{name}.overrides)")
    validate(out, f"{src} (variants.{name}.overrides)")
    return out


def variant_stages(recipe: Recipe, name: str) -> list[StageConfig]:
    """The stages a variant trains, in its order."""
    v = get_variant(recipe, name)
    by_name = {s.name: s for s in recipe.stages}
    return [by_name[s] for s in v.order] if v.order else list(recipe.stages)


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        out.append((key.strip(), yaml.safe_load(raw)))
    return out


def _deep_merge(base: dict, top: dict) -> dict:
    """`top` over `base`: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in top.items():
        out[key] = (
            _deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def _unalias(node: Any) -> Any:
    """A copy in which YAML anchors/aliases (`trainer: *grpo`) are separate objects, so that a dotted override
    of one stage's trainer does not change every stage that shares the anchor."""
    if isinstance(node, dict):
        return {k: _unalias(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unalias(v) for v in node]
    return node


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A recipe file; `extends: other.yaml` (relative to this file) reads that one first and merges this over
    it."""
    if not path.exists():
        raise RecipeError(f"{path}: recipe not found" + (f" (extended by {chain[-1]})" if chain else ""))
    try:
        data = _unalias(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    parent_path = (path.parent / parent).resolve()
    if parent_path in chain or parent_path == path.resolve():
        raise RecipeError(f"{path}: extends {parent!r} makes a cycle")
    return _deep_merge(_read_yaml(parent_path, (*chain, path.resolve())), data)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    data = _read_yaml(path)
    src = str(path)
    # A file's own `overrides:` (dotted keys, e.g. into the extended recipe's stage list) go first, then the
    # command line's.
    in_file = data.pop("overrides", None) or {}
    if not isinstance(in_file, dict):
        raise RecipeError(f"{src}: overrides must be a mapping of dotted keys to values")
    for key, value in [*in_file.items(), *parse_overrides(overrides or [])]:
        _apply_override(data, key, value, src)
    recipe = _build(Recipe, data, "", src)
    # A model folder named relative to the recipe (`source: ../../assets/tiny-pretrained`) works from any
    # working directory; otherwise a relative source is a preset, a hub id, or a folder under the working
    # directory.
    beside = path.parent / recipe.model.source
    if not Path(recipe.model.source).is_absolute() and (beside / "config.json").is_file():
        recipe.model.source = str(beside.resolve())
    recipe.eval.benchmarks = expand_benchmarks(recipe.eval.benchmarks)
    validate(recipe, src)
    for st in recipe.stages:  # the recipe's reward mode, unless the stage names its own
        st.trainer.reward_mode = st.trainer.reward_mode or recipe.reward.mode
    for name in recipe.variants:  # a bad per-variant override fails now, not after hours of training
        variant_recipe(recipe, name, src)
    return recipe


def to_dict(recipe: Recipe) -> dict:
    return dataclasses.asdict(recipe)
