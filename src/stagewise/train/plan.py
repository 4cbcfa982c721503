"""From a recipe variant to the list of stages it trains, each with its exact rows and trainer settings.

This is where the experiment grid's arms differ, and only here:
    staged                 the recipe's stages in `order`, each from the previous one's model
    merged                 every stage's rows pooled and shuffled into one GRPO run with the summed steps
    caption_sft            SFT on (image, "Please generate a detailed caption") -> caption in place of the
                           perception stage, then the remaining stages
    difficulty             the pooled rows ordered easy -> hard (pass rate), shuffling off, summed steps
    capability_difficulty  the stages in order, each one's rows ordered easy -> hard, shuffling off
Matched compute: every arm takes the same number of optimizer steps with the same prompts per step and group
size, so prompts seen and completions generated are equal by construction (the manifests record them).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stagewise.config import Recipe, StageConfig, TrainerConfig, get_variant, variant_stages
from stagewise.data.difficulty import easy_to_hard, keep
from stagewise.data.prompts import assistant_message, load_prompt
from stagewise.data.sources import load_rows, to_trl_rows

log = logging.getLogger(__name__)

PassRates = Callable[[list[dict]], dict[str, float]]
"""Given TRL rows, their pass rates by id (estimated or read from the data, cached by the caller)."""


@dataclass
class StagePlan:
    """One training step of a variant: what trains, on which rows (in order), with which settings."""

    name: str
    """Folder name under the variant's run directory."""
    capability: str
    """perception / textual_reasoning / visual_reasoning, or `all` for pooled runs."""
    method: str
    """`grpo` or `sft`."""
    rows: list[dict]
    """TRL rows in training order (the trainer shuffles them unless `trainer.shuffle` is off)."""
    trainer: TrainerConfig
    """Optimisation settings (steps already summed for pooled runs)."""
    freeze_vision: bool
    """Whether the vision tower is frozen."""
    sources: list[str]
    """The recipe stages whose data this plan trains on."""


def perception_set_train(data_dir: Path) -> Path:
    """Where the run's perception data engine puts its TRL train split (built by the pipeline)."""
    return Path(data_dir) / "perception_set" / "export" / "trl" / "train"


def image_cache(data_dir: Path | None) -> Path | None:
    """Where images embedded in stage data (bytes in a parquet or hub dataset) are written once, so that rows
    reference them by path and hold no pixels (none without a data folder: small ones stay in the rows)."""
    return Path(data_dir) / "image_cache" if data_dir is not None else None


def read_source(stage: StageConfig, path: str, data_dir: Path, limit: int | None = None) -> list[dict]:
    """One `data.paths` entry's rows with the stage's reading settings, images kept encoded."""
    d = stage.data
    return load_rows(
        path,
        limit,
        decode=False,
        columns=d.columns or None,
        image_dir=d.image_dir,
        split=d.split,
        config_name=d.config_name,
        revision=d.revision,
        cache_dir=image_cache(data_dir),
    )


RowFilter = Callable[[list[dict], StageConfig], list[dict]]
"""Given one source's TRL rows and their stage, those the stage can train on (the prompt-length budget)."""


def _source_rows(
    stage: StageConfig, data_dir: Path, sft: bool, keep: RowFilter | None = None
) -> dict[str, list[dict]]:
    out = _read_sources(stage, data_dir, sft)
    return {k: keep(rows, stage) for k, rows in out.items()} if keep is not None else out


def _read_sources(stage: StageConfig, data_dir: Path, sft: bool) -> dict[str, list[dict]]:
    out = {}
    if stage.data.perception_set:
        out["perception_set"] = to_trl_rows(
            load_rows(perception_set_train(data_dir), limit=stage.data.size, decode=False),
            instruction=stage.data.instruction,
            with_completion=sft,
            source="perception_set",
        )
    for fam in stage.data.families:
        out[fam] = to_trl_rows(
            load_rows(data_dir / fam / "train", limit=stage.data.size, decode=False),
            instruction=stage.data.instruction,
            with_completion=sft,
            source=fam,
        )
    for path in stage.data.paths:
        raw = read_source(stage, path, data_dir)
        rows = to_trl_rows(raw, instruction=stage.data.instruction, with_completion=sft, source=str(path))
        for r, src in zip(rows, raw, strict=True):
            if src.get("pass_rate") is not None:
                r["pass_rate"] = float(src["pass_rate"])
        out[path] = rows
    return out


def stage_rows(
    stage: StageConfig, data_dir: Path, seed: int = 0, keep: RowFilter | None = None
) -> list[dict]:
    """A stage's TRL rows: every source pooled, or `data.size` rows drawn with the `data.mix` shares; `keep`
    filters each source first."""
    sources = _source_rows(stage, data_dir, sft=stage.method == "sft", keep=keep)
    if not stage.data.mix:
        return [r for rows in sources.values() for r in rows]
    rng = random.Random(f"mix-{stage.name}-{seed}")
    total = sum(stage.data.mix.values())
    out = []
    for key, share in stage.data.mix.items():
        rows, n = sources[key], round(stage.data.size * share / total)
        if n > len(rows):  # a small source is repeated rather than silently under-weighted
            log.warning(
                "stage %s: mix wants %d rows of %s, which has %d; repeating rows",
                stage.name,
                n,
                key,
                len(rows),
            )
            picked = [rows[i % len(rows)] for i in range(n)]
        else:
            picked = rng.sample(rows, n)
        out += picked
    return out


def caption_rows(stage: StageConfig, data_dir: Path, prompt: str) -> list[dict]:
    """(image, caption prompt) -> the image's dense caption, for every image of the replaced stage's data."""
    text = load_prompt(prompt)
    out = []
    for fam in stage.data.families:
        for r in load_rows(data_dir / fam / "train", limit=stage.data.size, decode=False):
            out.append(_caption_row(r, text))
    sources = [read_source(stage, p, data_dir) for p in stage.data.paths]
    if stage.data.perception_set:
        sources.append(load_rows(perception_set_train(data_dir), decode=False))
    for path, rows in zip([*stage.data.paths, "perception_set"], sources, strict=False):
        for r in rows:
            if not r.get("caption"):
                raise ValueError(f"{path}: row {r.get('id')!r} has no 'caption' for the caption-SFT baseline")
            out.append(_caption_row(r, text))
    return [r for r in out if r["images"]]


def _caption_row(r: dict, text: str) -> dict:
    return {
        "prompt": [{"role": "user", "content": text}],
        "images": list(r.get("images") or []),
        "completion": assistant_message(r.get("caption", "")),
        "answer": "",
        "answer_kind": "",
        "id": f"caption-{r.get('id')}",
        "family": "caption",
        "kind": "caption",
    }


def _pooled_trainer(stages: list[StageConfig], **changes) -> TrainerConfig:
    first = stages[0].trainer
    for s in stages[1:]:
        if replace(s.trainer, steps=first.steps) != first:
            log.warning(
                "pooled run: stage %s has trainer settings other than %s's; using %s's (steps summed)",
                s.name,
                stages[0].name,
                stages[0].name,
            )
    changes.setdefault("trainable", "all")
    return replace(first, steps=sum(s.trainer.steps for s in stages), **changes)


def _filtered(rows: list[dict], rates: dict[str, float], recipe: Recipe) -> list[dict]:
    d = recipe.difficulty
    kept = [r for r in rows if keep(rates[r["id"]], d.drop_solved, d.drop_unsolved)]
    if len(kept) < len(rows):
        log.info("difficulty: dropped %d of %d items (solved/unsolved)", len(rows) - len(kept), len(rows))
    for r in kept:
        r["pass_rate"] = rates[r["id"]]
    return kept


def _per_pass(trainer: TrainerConfig) -> int:
    return math.ceil(trainer.steps * trainer.prompts_per_step / trainer.epochs)


def _fit_budget(ordered: list[dict], trainer: TrainerConfig) -> list[dict]:
    """Without shuffling, a run reads its rows front to back and stops after `steps x prompts_per_step` of
    them; with more rows than that it would never reach the hard end. Keep an evenly spaced subsample of the
    ordered rows instead, so the curriculum spans easy to hard within the budget; with `epochs`, that many
    passes over a subsample of a pass's size, each easy to hard."""
    per_pass = _per_pass(trainer)
    if len(ordered) > per_pass:
        ordered = [ordered[i * len(ordered) // per_pass] for i in range(per_pass)]
    return ordered * trainer.epochs if trainer.epochs > 1 else ordered


def _one_pass(rows: list[dict], trainer: TrainerConfig) -> list[dict]:
    """The rows of one pass: with `epochs`, the first `steps x prompts_per_step / epochs`; else all."""
    return rows[: _per_pass(trainer)] if trainer.epochs > 1 else rows


def _passes(rows: list[dict], trainer: TrainerConfig) -> list[dict]:
    """Shuffled data with `epochs`: one pass's rows, each seen `epochs` times (the trainer shuffles)."""
    return _one_pass(rows, trainer) * trainer.epochs


def _one_modality_per_step(plan: StagePlan, seed: int) -> StagePlan:
    """TRL's GRPO cannot put image and text-only prompts in one generation batch (the processor takes images
    for every row or none), so a plan that mixes them (merged, the pooled curriculum, a mixed stage) is laid
    out in runs of one rollout batch of a single modality, and read in that order (shuffling off). Shuffled
    plans get their runs shuffled; ordered ones (curricula) keep them in order. A last partial run is topped
    up with that modality's first rows, so nothing is dropped."""
    kinds = {bool(r["images"]) for r in plan.rows}
    if plan.method != "grpo" or len(kinds) < 2:
        return plan
    t = plan.trainer
    block = t.prompts_per_rollout or t.prompts_per_step
    runs, pending = [], {True: [], False: []}
    for r in plan.rows:
        key = bool(r["images"])
        pending[key].append(r)
        if len(pending[key]) == block:
            runs.append(pending[key])
            pending[key] = []
    for key, rest in pending.items():
        if rest:
            same = [r for r in plan.rows if bool(r["images"]) == key]
            runs.append(rest + [same[i % len(same)] for i in range(block - len(rest))])
    if t.shuffle:
        random.Random(f"runs-{plan.name}-{seed}").shuffle(runs)
    return replace(plan, rows=[r for run in runs for r in run], trainer=replace(t, shuffle=False))


def plan_outline(recipe: Recipe, name: str) -> list[tuple[str, list[StageConfig]]]:
    """The folders variant `name` trains, in order, each with the recipe stages it is made from: what
    `plan_variant` returns, known without reading any data (the pipeline checks a rerun's recipe against it
    before any work). Kept beside `_plan`, which must name its plans the same way."""
    v = get_variant(recipe, name)
    stages = variant_stages(recipe, name)
    if v.kind in ("merged", "difficulty"):
        return [(v.kind, stages)]
    return [
        ("caption_sft" if v.kind == "caption_sft" and s.capability == "perception" else s.name, [s])
        for s in stages
    ]


def plan_variant(
    recipe: Recipe,
    name: str,
    data_dir: Path,
    pass_rates: PassRates | None = None,
    seed: int | None = None,
    keep: RowFilter | None = None,
) -> list[StagePlan]:
    """The stages variant `name` trains, in order. `recipe` must already have the variant's overrides applied
    (see `config.variant_recipe`); `pass_rates` is needed by the curricula only; `keep` filters each source's
    rows (the pipeline passes the prompt-length budget)."""
    seed = recipe.seed if seed is None else seed
    return [_one_modality_per_step(p, seed) for p in _plan(recipe, name, data_dir, pass_rates, seed, keep)]


def _plan(
    recipe: Recipe,
    name: str,
    data_dir: Path,
    pass_rates: PassRates | None,
    seed: int,
    keep: RowFilter | None = None,
) -> list[StagePlan]:
    v = get_variant(recipe, name)
    stages = variant_stages(recipe, name)
    rows = {
        s.name: stage_rows(s, data_dir, seed, keep)
        for s in stages
        if not (v.kind == "caption_sft" and s.capability == "perception")
    }
    pooled_freeze = True if v.freeze_vision is None else v.freeze_vision
    names = [s.name for s in stages]

    if v.kind == "staged":
        return [
            StagePlan(
                s.name,
                s.capability,
                s.method,
                _passes(rows[s.name], s.trainer),
                s.trainer,
                s.freeze_vision,
                [s.name],
            )
            for s in stages
        ]
    if v.kind == "merged":
        # each stage gives the rows of one of its passes, as in the staged arm; the pool is read `epochs`
        # times
        pooled = [r for s in stages for r in _one_pass(rows[s.name], s.trainer)]
        random.Random(f"merged-{seed}").shuffle(pooled)
        trainer = _pooled_trainer(stages)
        pooled = pooled * trainer.epochs
        return [StagePlan("merged", "all", "grpo", pooled, trainer, pooled_freeze, names)]
    if v.kind == "caption_sft":
        plans = []
        for s in stages:
            if s.capability != "perception":
                plans.append(
                    StagePlan(
                        s.name,
                        s.capability,
                        s.method,
                        _passes(rows[s.name], s.trainer),
                        s.trainer,
                        s.freeze_vision,
                        [s.name],
                    )
                )
                continue
            c, t = v.caption_sft, s.trainer
            trainer = replace(
                t,
                steps=c.steps or t.steps,
                batch_size=c.batch_size or t.prompts_per_step * t.group_size,
                learning_rate=c.learning_rate or t.learning_rate,
            )
            plans.append(
                StagePlan(
                    "caption_sft",
                    "perception",
                    "sft",
                    caption_rows(s, data_dir, c.prompt),
                    trainer,
                    False,
                    [s.name],
                )
            )
        return plans
    if pass_rates is None:
        raise ValueError(f"variant {name!r} ({v.kind}) needs pass rates")
    if v.kind == "difficulty":
        pooled = [r for s in stages for r in rows[s.name]]
        rates = pass_rates(pooled)
        trainer = _pooled_trainer(stages, shuffle=False)
        ordered = _fit_budget(easy_to_hard(_filtered(pooled, rates, recipe), rates), trainer)
        return [StagePlan("difficulty", "all", "grpo", ordered, trainer, pooled_freeze, names)]
    if v.kind == "capability_difficulty":
        plans = []
        for s in stages:
            rates = pass_rates(rows[s.name])
            trainer = replace(s.trainer, shuffle=False)
            ordered = _fit_budget(easy_to_hard(_filtered(rows[s.name], rates, recipe), rates), trainer)
            plans.append(
                StagePlan(s.name, s.capability, s.method, ordered, trainer, s.freeze_vision, [s.name])
            )
        return plans
    raise ValueError(f"unknown variant kind {v.kind!r}")
