"""`stagewise run|grid RECIPE`: world data -> base model -> each variant's stages -> evaluation -> tables.
Each step is also a command of its own, `stagewise step world|base|perception-set|stage|eval|results RECIPE`
(recipes/tiny/staged.sh runs the demo that way); `run` is their sequence.

Directory convention (each step reads the previous step's folder; nothing else is handed over):
    runs/<name>/recipe.yaml                    the resolved recipe
    runs/<name>/data/                          world data (HF datasets + JSONL), see stagewise.world.build
    runs/<name>/init/                          the tiny model, randomly initialised (presets only)
    runs/<name>/base/                          the warm-started base (when the recipe has a warm start)
    runs/<name>/difficulty/pass_rates.jsonl    per-item pass rates, when a curriculum needs them
    runs/<name>/<variant>/seed<k>/<stage>/     each stage's HF model + manifest.json + trainer_log.jsonl
                                               (+ checkpoints/ while it trains: a killed stage resumes there)
    runs/<name>/eval/base/                     base evaluation: items.jsonl + summary.json
    runs/<name>/<variant>/seed<k>/eval/<stage>/  evaluation of each trained model
    runs/<name>/results.md|json                every evaluated model
    runs/<name>/paired.json                    each model minus the base on the same items (± 95% interval)
    runs/<name>/grid.md|json                   variants x seeds: mean +- std, difference to merged, compute
Data, init and base are shared by every variant and seed (the base is warm-started with `seed`); seeds vary
the RL stages. A folder whose manifest says `done` is never redone, so rerunning a command continues it; every
manifest records what its folder was planned from (stagewise.train.provenance), and a rerun whose recipe
changed any of it stops before any work unless told to redo those steps (`--redo`) or start over (`--fresh`).
One process writes into a run folder at a time (stagewise.lock).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
import yaml

from stagewise.analysis.paired import (
    collapse_free_table,
    compare_to_reference,
    load_eval_items,
    paired_table,
)
from stagewise.config import MODEL_PRESETS, Recipe, needs_world, to_dict, variant_names, variant_recipe
from stagewise.data.budget import PromptLength, drop_overlong
from stagewise.data.perception.filter import FilterConfig
from stagewise.data.perception.pipeline import build_perception_set as build_question_set
from stagewise.data.sft_rows import approx_length, arrange_order, world_sft_rows
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.eval.backends import make_backend
from stagewise.eval.suite import run_benchmarks
from stagewise.eval.world_eval import evaluate
from stagewise.export.card import refresh_cards
from stagewise.lock import folder_lock
from stagewise.models.load import check_model_ref, load_for_training, load_processor
from stagewise.models.tiny import PRESETS, build_tiny_model, world_corpus
from stagewise.train import provenance, tracking
from stagewise.train.common import (
    checkpointing_arg,
    freeze_language,
    freeze_vision,
    parameter_counts,
    report_targets,
    seed_everything,
)
from stagewise.train.grpo import grpo_config, run_grpo
from stagewise.train.launch import launch_stage, record_rank
from stagewise.train.manifest import is_done, latest_checkpoint, mark_planned, relative, write_manifest
from stagewise.train.pass_rates import pass_rate_fn
from stagewise.train.plan import StagePlan, plan_outline, plan_variant
from stagewise.train.provenance import Planned, mark_started
from stagewise.train.sft import run_sft, sft_config
from stagewise.train.summary import (
    COLLAPSE_NOTE,
    PAIRED_NOTE,
    VERSUS_MERGED_NOTE,
    grid_summary,
    markdown_table,
    results_table,
    versus_merged,
    versus_merged_table,
    write_grid_summary,
)
from stagewise.utils import atomic_write_json, atomic_write_jsonl, atomic_write_text
from stagewise.world.build import build_world
from stagewise.world.tasks import FAMILIES

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- steps
def build_data(recipe: Recipe, planned: dict[str, Planned] | None = None) -> Path:
    w = recipe.world
    cfg = w.world_config()
    sizes = {"train": w.train_size, "test": w.test_size}
    split_cfgs = {}
    ws = recipe.model.warmstart
    if ws is not None:
        # Drawn after train and test, so adding it leaves their items unchanged; never shares an item with
        # them. Any warm start gets it (a preset, or a pretrained model warm-started on the world, mis-seeing
        # or not).
        sizes["warmstart"] = ws.size
        if ws.confusions:
            split_cfgs["warmstart"] = w.world_config(annotator=ws)
    out = recipe.run_dir / "data"
    if is_done(out):
        return out
    if not needs_world(recipe):  # the folder still holds what the run derives from its data (the image cache)
        out.mkdir(parents=True, exist_ok=True)
        log.info("no stage, warm start or evaluation reads the procedural world: not built")
        return out
    mark_planned(out, planned, recipe.run_dir)
    build_world(out, list(FAMILIES), sizes, seed=w.seed, cfg=cfg, split_cfgs=split_cfgs)
    write_manifest(out, recipe, step="data")
    return out


def build_base(recipe: Recipe, data_dir: Path, planned: dict[str, Planned] | None = None) -> Path:
    """The model the first stage starts from: a local preset (built + warm-started) or any HF VLM."""
    source = recipe.model.source
    if source in PRESETS:
        init = recipe.run_dir / "init"
        if not is_done(init):
            mark_planned(init, planned, recipe.run_dir)
            t0 = time.time()
            build_tiny_model(source, world_corpus(recipe.model.corpus_size), init, seed=recipe.seed)
            write_manifest(init, recipe, step="init", preset=source, wall_s=time.time() - t0)
        source = str(init)
    ws = recipe.model.warmstart
    if ws is None:
        return Path(source) if Path(source).exists() else source
    base = recipe.run_dir / "base"
    if is_done(base):
        log.info("base: done already (%s)", base)
        return base
    mark_planned(base, planned, recipe.run_dir)
    resume = latest_checkpoint(base)
    log.info(
        "base: SFT warm start of %s for %d steps%s",
        source,
        ws.steps,
        f", resuming from {resume.name}" if resume else "",
    )
    rows = []
    for fam in ws.families:
        split = "warmstart" if (data_dir / fam / "warmstart").exists() else "train"
        raw = load_rows(data_dir / fam / split, limit=ws.size)
        style = recipe.perception_set.question_style if recipe.perception_set else "varied"
        rows += world_sft_rows(
            raw, fam, _instruction(recipe), ws.describe, ws.caption_qa, style, recipe.world.perception_kinds
        )
    n_rows = len(rows)
    order = arrange_order([approx_length(r) for r in rows], ws.batch_size, ws.steps, recipe.seed)
    seed_everything(recipe.seed)
    model, processor = load_for_training(source, recipe.model.train_dtype, recipe.model.attn_implementation)
    t0 = time.time()
    args = sft_config(
        base,
        steps=ws.steps,
        batch_size=ws.batch_size,
        learning_rate=ws.learning_rate,
        seed=recipe.seed,
        logging_steps=100,
        shuffle=False,
        save_steps=ws.save_steps,
        extra={"report_to": report_targets(ws.report_to)},
    )
    tracking.name_trainer(
        args, tracking.names_for(recipe.project or recipe.name, recipe.name, base, recipe.run_dir)
    )
    trainer = run_sft(
        model,
        processor,
        to_dataset(rows).select(order),
        base,
        resume=str(resume) if resume else False,
        args=args,
    )
    _write_log(base, trainer)
    write_manifest(
        base,
        recipe,
        step="warmstart",
        started_from=relative(source, recipe.run_dir),
        config=asdict(ws),
        train_items=n_rows,
        resumed_from=resume.name if resume else None,
        wall_s=time.time() - t0,
    )
    refresh_cards([base])
    shutil.rmtree(
        base / "checkpoints", ignore_errors=True
    )  # the model is saved; checkpoints were for resuming
    return base


def build_perception_set(
    recipe: Recipe, data_dir: Path, base: Path | str, planned: dict[str, Planned] | None = None
) -> Path | None:
    """The paper's perception data from the world's captions (offline writer -> filter with the base ->
    export), when a stage trains on it. Resumes from the engine's per-item caches."""
    if not any(st.data.perception_set for st in recipe.stages) or recipe.perception_set is None:
        return None
    ps = recipe.perception_set
    model = str(base) if ps.filter_model == "base" else ps.filter_model
    folder = data_dir / "perception_set"
    if not is_done(folder):
        mark_planned(folder, planned, recipe.run_dir)
    cfg = FilterConfig.from_rule(ps, batch_size=ps.batch_size, seed=recipe.seed)
    out = build_question_set(
        data_dir,
        [model],
        data_dir / "perception_set",
        families=tuple(ps.families),
        split="train",
        limit=ps.limit,
        filter_cfg=cfg,
        question_style=ps.question_style,
        balance=ps.balance,
        question_kinds=recipe.world.perception_kinds,
    )
    done = json.loads((folder / "done.json").read_text())
    if not is_done(folder):
        write_manifest(folder, recipe, step="perception_set", **done)
    log.info(
        "perception set: %d written, %d kept (%.1f%%) -> %s",
        done["written"],
        done["kept"],
        100 * (done["keep_rate"] or 0),
        out,
    )
    return out


def _instruction(recipe: Recipe) -> str | None:
    return recipe.stages[0].data.instruction if recipe.stages else "think_boxed"


def train_stage(
    recipe: Recipe,
    plan: StagePlan,
    start_from: Path | str,
    out: Path,
    seed: int,
    launch=None,
    planned: Planned | None = None,
) -> Path:
    """Train one planned stage into `out`, resuming from its last checkpoint if a previous run was killed.
    `launch` (stagewise.train.launch.LaunchOptions) runs it in `accelerate launch` child processes instead,
    which call back into this function with the same plan."""
    if is_done(out):
        log.info("stage %s: done already (%s)", out, out)
        return out
    if planned is not None:
        mark_started(out, planned)
    if launch is not None and launch.launcher != "local":
        launch_stage(recipe, plan, start_from, out, seed, launch)
        if not is_done(out):
            raise RuntimeError(
                f"stage {plan.name}: launched training ended without a finished {out}/manifest.json"
            )
        return out
    resume = latest_checkpoint(out)
    log.info(
        "stage %s (%s, %s): %d items, %d steps, from %s%s",
        out,
        plan.capability,
        plan.method,
        len(plan.rows),
        plan.trainer.steps,
        start_from,
        f", resuming from {resume.name}" if resume else "",
    )
    seed_everything(seed)
    t, t0 = plan.trainer, time.time()
    # The trainer's config is built before the model is loaded: under accelerate's DeepSpeed ZeRO-3 it
    # registers the config transformers reads in from_pretrained, so each rank loads only its shard instead of
    # the whole fp32 model. `args` must stay referenced until the trainer exists (transformers keeps a weak
    # reference).
    args = _trainer_args(plan, out, seed)
    tracking.name_trainer(
        args, tracking.names_for(recipe.project or recipe.name, recipe.name, out, recipe.run_dir)
    )
    model, processor = load_for_training(
        start_from, recipe.model.train_dtype, recipe.model.attn_implementation
    )
    if plan.method == "grpo":
        trainer = run_grpo(
            model,
            processor,
            to_dataset(plan.rows),
            out,
            t,
            seed=seed,
            freeze_vision_tower=plan.freeze_vision,
            resume=str(resume) if resume else False,
            args=args,
            pixels=(recipe.model.min_pixels, recipe.model.max_pixels),
        )
        compute = {
            "prompts_seen": t.steps * t.prompts_per_step,
            "completions_generated": t.steps * t.prompts_per_step * t.group_size,
            "tokens_generated": _tokens_generated(trainer),
        }
    else:
        if plan.freeze_vision:
            freeze_vision(model)
        if t.trainable == "vision":
            freeze_language(model)
        trainer = run_sft(
            model, processor, to_dataset(plan.rows), out, resume=str(resume) if resume else False, args=args
        )
        compute = {
            "sequences_seen": t.steps * t.batch_size,
            "prompts_seen": 0,
            "completions_generated": 0,
            "tokens_generated": 0,
        }
    compute["wall_s"] = time.time() - t0
    parameters = parameter_counts(model)  # what the vision switches left trainable, recorded for checking

    record_rank(out, trainer)
    if not trainer.accelerator.is_main_process:  # launched ranks > 0: rank 0 writes the stage's files
        return out
    _write_log(out, trainer)
    write_manifest(
        out,
        recipe,
        step="stage",
        seed=seed,
        plan={
            "name": plan.name,
            "capability": plan.capability,
            "method": plan.method,
            "sources": plan.sources,
            "freeze_vision": plan.freeze_vision,
            "trainer": asdict(t),
            "first_ids": [r["id"] for r in plan.rows[:5]],
        },
        started_from=relative(start_from, out.parent.parent.parent),
        train_items=len(plan.rows),
        resumed_from=resume.name if resume else None,
        wall_s=compute["wall_s"],
        compute=compute,
        parameters=parameters,
    )
    refresh_cards([out])  # README.md: the Hub model card, rewritten with the results once evaluated
    shutil.rmtree(
        out / "checkpoints", ignore_errors=True
    )  # the final model is saved; checkpoints were for resuming
    return out


def _trainer_args(plan: StagePlan, out: Path, seed: int):
    """TRL's config of a planned stage. SFT stages take the GRPO stage's GPU sizing too: `batch_size`
    sequences per step split over processes and `gradient_accumulation_steps`, activation checkpointing and
    bf16 as set (the caption-SFT arm of a paper preset: 640 captions a step, 5 per micro-batch on 8 GPUs, not
    640)."""
    t = plan.trainer
    if plan.method == "grpo":
        return grpo_config(t, out, seed)
    extra = {
        **checkpointing_arg(t.gradient_checkpointing),
        **({"bf16": t.bf16} if t.bf16 is not None else {}),
        "report_to": report_targets(t.report_to),
    }  # SFT stages (caption SFT) log where GRPO stages do
    return sft_config(
        out,
        steps=t.steps,
        batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        seed=seed,
        save_steps=t.save_steps,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        extra=extra,
    )


def _tokens_generated(trainer) -> int | None:
    """TRL logs mean completion length per logging step; sum it up into generated tokens."""
    hist = trainer.state.log_history
    lengths = [h["completions/mean_length"] for h in hist if "completions/mean_length" in h]
    if not lengths:
        return None
    args = trainer.args
    per_step = args.per_device_train_batch_size * max(1, args.world_size) * args.gradient_accumulation_steps
    return int(sum(lengths) / len(lengths) * per_step * trainer.state.global_step)


def _write_log(folder: Path, trainer) -> None:
    atomic_write_jsonl(folder / "trainer_log.jsonl", trainer.state.log_history)


def evaluate_models(
    recipe: Recipe,
    models: list[tuple[str, Path | str, Path]],
    data_dir: Path,
    planned: dict[str, Planned] | None = None,
) -> dict[str, dict]:
    """Score (label, model, output folder) triples on the world test splits; a finished folder is reused."""
    ev = recipe.eval
    tests = {
        fam: to_trl_rows(
            load_rows(data_dir / fam / "test", limit=ev.size), instruction=_instruction(recipe), source=fam
        )
        for fam in ev.families
    }
    summaries = {}
    for label, path, out in models:
        if (out / "summary.json").exists():
            summaries[label] = json.loads((out / "summary.json").read_text())
            continue
        log.info("eval %s (%s)", label, path)
        mark_planned(out, planned, recipe.run_dir)
        t0 = time.time()
        backend = eval_backend(recipe, path)
        summaries[label] = evaluate(
            None,
            None,
            tests,
            out,
            batch_size=ev.batch_size,
            max_new_tokens=ev.max_new_tokens,
            backend=backend,
        )
        del backend  # one model in memory at a time
        write_manifest(
            out, recipe, step="eval", model=relative(path, recipe.run_dir), wall_s=time.time() - t0
        )
        log.info("eval %s: %.0f s", label, time.time() - t0)
    if ev.benchmarks:  # each benchmark is skipped once its metrics.json exists
        for label, path, out in models:
            summaries[label]["benchmarks"] = run_benchmarks(
                ev, path, out, backend=lambda p=path: eval_backend(recipe, p)
            )
    return summaries


def eval_backend(recipe: Recipe, path: Path | str):
    """The recipe's generation backend for one model (`eval.backend`, `model.dtype`)."""
    ev = recipe.eval
    return make_backend(
        ev.backend,
        str(path),
        batch_size=ev.batch_size,
        base_url=ev.base_url,
        api_key=os.environ.get("OPENAI_API_KEY"),
        dtype=recipe.model.dtype,
        attn_implementation=recipe.model.attn_implementation,
    )


# ------------------------------------------------------------------------------------------------ main
def variant_dir(recipe: Recipe, variant: str, seed: int) -> Path:
    return recipe.run_dir / variant / f"seed{seed}"


def prompt_budget(recipe: Recipe, base: Path | str):
    """The stages' `data.max_prompt_tokens` as a row filter for `plan_variant` (None when no stage sets one),
    counting prompts with the base model's processor and images fitted to `model.min/max_pixels`."""
    if all(st.data.max_prompt_tokens is None for st in recipe.stages):
        return None

    @functools.cache
    def length() -> PromptLength:  # the processor is loaded once, and only if a stage has a limit
        return PromptLength(load_processor(base), recipe.model.min_pixels, recipe.model.max_pixels)

    def keep(rows: list[dict], stage) -> list[dict]:
        if stage.data.max_prompt_tokens is None:
            return rows
        return drop_overlong(rows, length(), stage.data.max_prompt_tokens, stage.name)

    return keep


def check_models(recipe: Recipe) -> None:
    """Every model the recipe names (not a preset, not the run's own base) can be loaded: a typo in a hub id
    fails here, in seconds, before the world is built or anything trains."""
    refs = [
        recipe.model.source,
        recipe.difficulty.model,
        recipe.perception_set.filter_model if recipe.perception_set is not None else None,
    ]
    for ref in dict.fromkeys(refs):
        if ref is not None and ref not in (*MODEL_PRESETS, "base"):
            check_model_ref(ref)


def check_variants(recipe: Recipe, data_dir: Path, base: Path | str | None = None) -> None:
    """Plan every variant's stages before the first one trains, so that a variant whose data cannot be planned
    (the caption-SFT arm over data without a `caption` field, a missing file) fails now, not after the arms
    before it have trained for hours. Curricula are planned with a stand-in pass rate (their real ones are
    estimated when they run); only the data and the plan's shape are checked here."""
    for variant in variant_names(recipe):
        try:
            vr = variant_recipe(recipe, variant)
            plan_variant(
                vr,
                variant,
                data_dir,
                lambda rows: {r["id"]: 0.5 for r in rows},
                seed=recipe.seed,
                keep=prompt_budget(vr, base) if base is not None else None,
            )
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise ValueError(f"variant {variant!r} cannot be planned, so nothing was trained: {e}") from e


def built_base(recipe: Recipe) -> Path | str:
    """The base model `build_base` made, for the steps after it (`stagewise step`); an error naming the step
    to run when it has not finished."""
    source = recipe.model.source
    if source in PRESETS:
        source = str(require_done(recipe.run_dir / "init", "base"))
    if recipe.model.warmstart is None:
        return Path(source) if Path(source).exists() else source
    return require_done(recipe.run_dir / "base", "base")


def built_data(recipe: Recipe) -> Path:
    """The world data `build_data` made (a recipe that reads no world has an empty folder)."""
    out = recipe.run_dir / "data"
    return require_done(out, "world") if needs_world(recipe) else out


def require_done(folder: Path, step: str, args: str = "") -> Path:
    if not is_done(folder):
        raise FileNotFoundError(f"{folder}: not finished; run `stagewise step {step} RECIPE{args}` first")
    return folder


def variant_plans(
    recipe: Recipe,
    variant: str,
    seed: int,
    base: Path | str,
    data_dir: Path,
    launch=None,
    planned: dict[str, Planned] | None = None,
) -> tuple[Recipe, list[StagePlan]]:
    """One arm's recipe (its overrides applied) and its planned stages, in order."""
    vr = variant_recipe(recipe, variant)
    rank = getattr(launch, "machine_rank", 0)
    plans = plan_variant(
        vr,
        variant,
        data_dir,
        pass_rate_fn(vr, base, machine_rank=rank, planned=planned),
        seed=seed,
        keep=prompt_budget(vr, base),
    )
    return vr, plans


def run_variant(
    recipe: Recipe,
    variant: str,
    seed: int,
    base: Path | str,
    data_dir: Path,
    launch=None,
    planned: dict[str, Planned] | None = None,
) -> list[tuple[str, Path]]:
    """Train one arm of the grid for one seed: its planned stages in order, each from the previous model."""
    vr, plans = variant_plans(recipe, variant, seed, base, data_dir, launch, planned)
    vdir = variant_dir(recipe, variant, seed)
    models: list[tuple[str, Path]] = []
    prev: Path | str = base
    for plan in plans:
        out = vdir / plan.name
        prev = train_stage(
            vr,
            plan,
            prev,
            out,
            seed,
            launch=launch,
            planned=planned[relative(out, recipe.run_dir)] if planned else None,
        )
        models.append((plan.name, prev))
    return models


def run_one_stage(
    recipe: Recipe,
    variant: str,
    seed: int,
    stage: str,
    base: Path | str,
    data_dir: Path,
    launch=None,
    planned: dict[str, Planned] | None = None,
) -> Path:
    """One stage of one arm and seed (`stagewise step stage`), from the stage before it, which must be
    done."""
    names = [name for name, _ in plan_outline(variant_recipe(recipe, variant), variant)]
    if stage not in names:
        raise ValueError(
            f"variant {variant!r} has no stage {stage!r}; its stages, in order: {', '.join(names)}"
        )
    vdir = variant_dir(recipe, variant, seed)
    i = names.index(stage)
    prev = (
        base
        if i == 0
        else require_done(
            vdir / names[i - 1], "stage", f" --variant {variant} --seed {seed} --stage {names[i - 1]}"
        )
    )
    vr, plans = variant_plans(recipe, variant, seed, base, data_dir, launch, planned)
    out = vdir / stage
    return train_stage(
        vr,
        plans[i],
        prev,
        out,
        seed,
        launch=launch,
        planned=planned[relative(out, recipe.run_dir)] if planned else None,
    )


def eval_targets(recipe: Recipe, seeds: list[int], base: Path | str):
    """What a run evaluates, known from the recipe alone: (label, model, output folder) triples, the base
    first, and each (variant, seed)'s final model's label."""
    to_eval: list[tuple[str, Path | str, Path]] = [("base", base, recipe.run_dir / "eval" / "base")]
    finals: dict[tuple[str, int], str] = {}
    for variant in variant_names(recipe):
        names = [name for name, _ in plan_outline(variant_recipe(recipe, variant), variant)]
        for seed in seeds:
            vdir = variant_dir(recipe, variant, seed)
            for stage in names if recipe.eval.after_each_stage else names[-1:]:
                to_eval.append((f"{variant}/seed{seed}/{stage}", vdir / stage, vdir / "eval" / stage))
            finals[(variant, seed)] = f"{variant}/seed{seed}/{names[-1]}"
    return to_eval, finals


def evaluate_run(
    recipe: Recipe,
    to_eval: list[tuple[str, Path | str, Path]],
    data_dir: Path,
    planned: dict[str, Planned] | None = None,
) -> dict[str, dict]:
    """Every model of the run on the world test splits (and the recipe's benchmarks); their cards get the
    results."""
    summaries = evaluate_models(recipe, to_eval, data_dir, planned)
    run_dir = recipe.run_dir
    refresh_cards(
        p for _, p, _ in to_eval if Path(p).absolute().is_relative_to(run_dir.absolute())
    )  # + results
    return summaries


def write_results(
    recipe: Recipe,
    summaries: dict[str, dict],
    to_eval: list[tuple[str, Path | str, Path]],
    finals: dict[tuple[str, int], str],
) -> dict:
    """results.md|json, paired.json and grid.md|json from the evaluated models; the trackers get the
    summary."""
    run_dir = recipe.run_dir
    items = load_eval_items({label: out for label, _, out in to_eval})
    paired = compare_to_reference(items, recipe.eval.families)
    vs_merged = versus_merged(items, finals, recipe.eval.families)
    header, rows = results_table(summaries, recipe.eval.families, items)
    p_header, p_rows = paired_table(paired, recipe.eval.families)
    c_header, c_rows = collapse_free_table(paired, recipe.eval.families)
    text = (
        markdown_table(header, rows)
        + PAIRED_NOTE
        + markdown_table(p_header, p_rows)
        + COLLAPSE_NOTE
        + markdown_table(c_header, c_rows)
    )
    if vs_merged:
        text += VERSUS_MERGED_NOTE + markdown_table(*versus_merged_table(vs_merged, recipe.eval.families))
    atomic_write_text(run_dir / "results.md", text)
    atomic_write_json(run_dir / "results.json", summaries)
    atomic_write_json(run_dir / "paired.json", paired)  # staged vs merged: grid.json's `paired_vs_merged`
    grid = grid_summary(recipe, summaries, finals, vs_merged)
    write_grid_summary(run_dir, grid)
    tracking.log_run(recipe, summaries)
    return {"models": summaries, "grid": grid, "paired": paired}


@contextmanager
def run_folder(
    recipe: Recipe,
    seeds: list[int],
    command: str,
    redo: list[str] | None = None,
    fresh: bool = False,
    wait: bool = False,
    machine_rank: int = 0,
):
    """Hold the run folder for one command (`run`, or one step): its lock (`wait`: wait for another writer
    instead of refusing), and a check that finished folders were made from this recipe, which stops before any
    work unless those steps are in `redo` (they and everything made from them are redone) or `fresh`
    (everything is). Yields what each folder is planned from."""
    run_dir = recipe.run_dir
    check_models(recipe)
    planned = provenance.planned_folders(recipe, seeds)
    lock = ".lock" if machine_rank == 0 else f".lock.machine{machine_rank}"  # machines share the folder
    with folder_lock(run_dir, command, wait=wait, name=lock):
        if machine_rank == 0:
            if fresh:
                provenance.fresh(run_dir)
            provenance.supersede(run_dir, provenance.check(run_dir, planned, redo))
            # Written once the folder's contents are known to come from this recipe.
            atomic_write_text(run_dir / "recipe.yaml", yaml.safe_dump(to_dict(recipe), sort_keys=False))
        else:
            provenance.check(run_dir, planned)  # machine 0 redoes; the others only refuse a stale folder
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        yield planned


def run(
    recipe: Recipe,
    seeds: list[int] | None = None,
    launch=None,
    redo: list[str] | None = None,
    fresh: bool = False,
    wait: bool = False,
    command: str = "run",
) -> dict[str, dict]:
    """Everything a recipe asks for, in order: data, base, every variant for every seed, evaluation, tables;
    each of them is also a command of its own (`stagewise step`). Finished steps are skipped, so rerunning the
    same command continues a stopped run (`launch`: see `train_stage`; the rest: `run_folder`)."""
    seeds = seeds or [recipe.seed]
    machine_rank = getattr(launch, "machine_rank", 0)
    with run_folder(recipe, seeds, command, redo, fresh, wait, machine_rank) as planned:
        t0 = time.time()
        data_dir = build_data(recipe, planned)
        base = build_base(recipe, data_dir, planned)
        build_perception_set(recipe, data_dir, base, planned)
        check_variants(recipe, data_dir, base)
        for variant in variant_names(recipe):
            for seed in seeds:
                run_variant(recipe, variant, seed, base, data_dir, launch=launch, planned=planned)
        if machine_rank > 0:  # every machine trained; machine 0 alone evaluates and writes the tables
            log.info(
                "machine %d: all stages joined; machine 0 evaluates and writes %s",
                machine_rank,
                recipe.run_dir / "results.md",
            )
            return {"models": {}, "grid": None, "paired": {}}
        to_eval, finals = eval_targets(recipe, seeds, base)
        summaries = evaluate_run(recipe, to_eval, data_dir, planned)
        out = write_results(recipe, summaries, to_eval, finals)
        log.info("run %s finished in %.0f s", recipe.name, time.time() - t0)
        return out
