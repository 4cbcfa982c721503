"""`stagewise run RECIPE`: world data -> base model -> stages in order -> evaluation -> comparison table.

Directory convention (each step reads the previous step's folder; nothing else is handed over):
    runs/<name>/recipe.yaml      the resolved recipe
    runs/<name>/data/            world data (HF datasets + JSONL), see stagewise.world.build
    runs/<name>/init/            the tiny model, randomly initialised (presets only)
    runs/<name>/base/            the warm-started base (when the recipe has a warm start)
    runs/<name>/<stage>/         each stage's trained HF model + manifest.json (+ trainer_log.jsonl)
    runs/<name>/eval/<model>/    items.jsonl + summary.json per evaluated model
    runs/<name>/results.md|json  the comparison table
A folder whose manifest says `done` is never redone, so rerunning the same command continues a stopped run.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
import yaml

from stagewise.config import Recipe, StageConfig, to_dict
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.utils import atomic_write_json, atomic_write_jsonl, atomic_write_text
from stagewise.world.tasks import FAMILIES, WorldConfig

log = logging.getLogger(__name__)


def versions() -> dict:
    import datasets
    import transformers
    import trl

    import stagewise

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "trl": trl.__version__, "datasets": datasets.__version__, "stagewise": stagewise.__version__}


def is_done(folder: Path) -> bool:
    manifest = folder / "manifest.json"
    return manifest.exists() and json.loads(manifest.read_text()).get("status") == "done"


def write_manifest(folder: Path, recipe: Recipe, **fields) -> None:
    atomic_write_json(folder / "manifest.json", {
        "status": "done", "recipe": recipe.name, "seed": recipe.seed, "versions": versions(), **fields})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------- steps
def build_data(recipe: Recipe) -> Path:
    from stagewise.world.build import build_world

    w = recipe.world
    cfg = WorldConfig(image_size=w.image_size, chart_share=w.chart_share, recheck_prob=w.recheck_prob,
                      option_trace=w.option_trace, inventory_in_trace=w.inventory_in_trace,
                      difficulty=w.difficulty)
    return build_world(recipe.run_dir / "data", list(FAMILIES), {"train": w.train_size, "test": w.test_size},
                       seed=w.seed, cfg=cfg)


def build_base(recipe: Recipe, data_dir: Path) -> Path:
    """The model the first stage starts from: a local preset (built + warm-started) or any HF VLM."""
    from stagewise.models.tiny import PRESETS, build_tiny_model, world_corpus

    source = recipe.model.source
    if source in PRESETS:
        init = recipe.run_dir / "init"
        if not is_done(init):
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
    from stagewise.models.load import load_model_and_processor
    from stagewise.train.sft import run_sft

    log.info("base: SFT warm start of %s for %d steps", source, ws.steps)
    rows = []
    for fam in ws.families:
        raw = load_rows(data_dir / fam / "train", limit=ws.size)
        rows += to_trl_rows(raw, with_completion=True, instruction=_instruction(recipe), source=fam)
        if ws.describe:
            rows += describe_rows(raw)
    random.Random(recipe.seed).shuffle(rows)
    seed_everything(recipe.seed)
    model, processor = load_model_and_processor(source, dtype=torch.float32)
    t0 = time.time()
    trainer = run_sft(model, processor, to_dataset(rows), base, steps=ws.steps, batch_size=ws.batch_size,
                      learning_rate=ws.learning_rate, seed=recipe.seed, logging_steps=100)
    _write_log(base, trainer)
    write_manifest(base, recipe, step="warmstart", started_from=str(source), config=asdict(ws),
                   train_items=len(rows), wall_s=time.time() - t0)
    return base


def describe_rows(raw: list[dict]) -> list[dict]:
    """SFT rows asking for the scene inventory of every world image (rows without a scene or image are skipped)."""
    from stagewise.data.prompts import assistant_message
    from stagewise.world.caption import summary
    from stagewise.world.scene import Scene

    out = []
    for r in raw:
        if r.get("images") and r.get("scene"):
            out.append({"prompt": [{"role": "user", "content": "Describe what you see."}], "images": r["images"],
                        "answer": "", "answer_kind": "", "id": f"describe-{r['id']}", "family": "describe",
                        "kind": "describe",
                        "completion": assistant_message(summary(Scene.from_dict(json.loads(r["scene"]))))})
    return out


def _instruction(recipe: Recipe) -> str | None:
    return recipe.stages[0].data.instruction if recipe.stages else "think_boxed"


def stage_rows(stage: StageConfig, data_dir: Path) -> list[dict]:
    """TRL rows for a stage; SFT stages train on each row's `solution` as the completion."""
    sft = stage.method == "sft"
    rows = []
    for fam in stage.data.families:
        rows += to_trl_rows(load_rows(data_dir / fam / "train", limit=stage.data.size),
                            instruction=stage.data.instruction, with_completion=sft, source=fam)
    for path in stage.data.paths:
        rows += to_trl_rows(load_rows(path), instruction=stage.data.instruction, with_completion=sft,
                            source=str(path))
    return rows


def train_stage(recipe: Recipe, stage: StageConfig, start_from: Path | str, data_dir: Path,
                launch=None) -> Path:
    """Train one stage into `runs/<name>/<stage>/`; `launch` (stagewise.train.launch.LaunchOptions) runs it in
    `accelerate launch` child processes, which call back into this function."""
    from stagewise.models.load import load_model_and_processor

    out = recipe.run_dir / stage.name
    if is_done(out):
        log.info("stage %s: done already (%s)", stage.name, out)
        return out
    if launch is not None and launch.launcher != "local":
        from stagewise.train.launch import launch_stage

        launch_stage(recipe, stage, start_from, data_dir, launch)
        if not is_done(out):
            raise RuntimeError(f"stage {stage.name}: launched training ended without a finished {out}/manifest.json")
        return out
    rows = stage_rows(stage, data_dir)
    random.Random(recipe.seed).shuffle(rows)
    log.info("stage %s (%s, %s): %d items, %d steps, from %s", stage.name, stage.capability, stage.method,
             len(rows), stage.trainer.steps, start_from)
    seed_everything(recipe.seed)
    model, processor = load_model_and_processor(start_from, dtype=torch.float32)
    t0 = time.time()
    if stage.method == "grpo":
        from stagewise.train.grpo import run_grpo

        trainer = run_grpo(model, processor, to_dataset(rows), out, stage.trainer, seed=recipe.seed,
                           freeze_vision_tower=stage.freeze_vision)
        t = stage.trainer
        compute = {"prompts_seen": t.steps * t.prompts_per_step,
                   "completions_generated": t.steps * t.prompts_per_step * t.group_size}
    else:
        from stagewise.train.common import freeze_vision
        from stagewise.train.sft import run_sft

        if stage.freeze_vision:
            freeze_vision(model)
        trainer = run_sft(model, processor, to_dataset(rows), out, steps=stage.trainer.steps,
                          batch_size=stage.trainer.batch_size, learning_rate=stage.trainer.learning_rate,
                          seed=recipe.seed)
        compute = {"sequences_seen": stage.trainer.steps * stage.trainer.batch_size}
    wall = time.time() - t0
    from stagewise.train.launch import record_rank

    record_rank(out, trainer)
    if not trainer.accelerator.is_main_process:  # launched ranks > 0: rank 0 writes the stage's files
        return out
    _write_log(out, trainer)
    compute["tokens_generated"] = _tokens_generated(trainer)
    write_manifest(out, recipe, step="stage", stage=asdict(stage), started_from=str(start_from),
                   train_items=len(rows), wall_s=wall, compute=compute)
    return out


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


def evaluate_models(recipe: Recipe, models: list[tuple[str, Path | str]], data_dir: Path) -> dict[str, dict]:
    from stagewise.eval.world_eval import evaluate
    from stagewise.models.load import load_model_and_processor

    ev = recipe.eval
    tests = {fam: to_trl_rows(load_rows(data_dir / fam / "test", limit=ev.size), instruction=_instruction(recipe),
                              source=fam) for fam in ev.families}
    summaries = {}
    for label, path in models:
        out = recipe.run_dir / "eval" / label
        if (out / "summary.json").exists():
            summaries[label] = json.loads((out / "summary.json").read_text())
            continue
        log.info("eval %s (%s)", label, path)
        t0 = time.time()
        model, processor = load_model_and_processor(path, dtype=torch.float32)
        summaries[label] = evaluate(model, processor, tests, out, batch_size=ev.batch_size,
                                    max_new_tokens=ev.max_new_tokens)
        log.info("eval %s: %.0f s", label, time.time() - t0)
    return summaries


def results_table(summaries: dict[str, dict], families: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["model"] + [f"{f} acc" for f in families] + ["overall acc", "format", "trace tokens"]
    rows = []
    for label, s in summaries.items():
        fam = s["families"]
        rows.append([label] + [f"{100 * fam[f]['accuracy']:.1f}" for f in families] + [
            f"{100 * s['overall']['accuracy']:.1f}", f"{100 * s['overall']['format_rate']:.1f}",
            f"{s['overall']['mean_response_tokens']:.1f}"])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main
def run(recipe: Recipe, launch=None) -> dict[str, dict]:
    """Everything a recipe asks for, in order; finished steps are skipped (`launch`: see `train_stage`)."""
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "recipe.yaml", yaml.safe_dump(to_dict(recipe), sort_keys=False))
    t0 = time.time()

    data_dir = build_data(recipe)
    base = build_base(recipe, data_dir)
    models: list[tuple[str, Path | str]] = [("base", base)]
    prev: Path | str = base
    for stage in recipe.stages:
        prev = train_stage(recipe, stage, prev, data_dir, launch=launch)
        models.append((stage.name, prev))

    to_eval = models if recipe.eval.after_each_stage else [models[0], models[-1]]
    summaries = evaluate_models(recipe, to_eval, data_dir)
    header, rows = results_table(summaries, recipe.eval.families)
    atomic_write_text(run_dir / "results.md", markdown_table(header, rows))
    atomic_write_json(run_dir / "results.json", summaries)
    log.info("run %s finished in %.0f s", recipe.name, time.time() - t0)
    return summaries
