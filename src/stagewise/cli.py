"""The `stagewise` command: one subcommand per step of the method, each usable on its own."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("stagewise")


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="[%X]", handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers.modeling_utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def show_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="left" if h == "model" else "right")
    for r in rows:
        table.add_row(*r)
    Console(width=max(Console().width, 110)).print(table)


# ------------------------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.train.launch import LaunchOptions
    from stagewise.train.pipeline import results_table, run

    recipe = load_recipe(args.recipe, args.overrides)
    launch = LaunchOptions(launcher=args.launcher, accelerate_config=args.accelerate_config,
                           num_processes=args.num_processes, num_machines=args.num_machines,
                           machine_rank=args.machine_rank, main_process_ip=args.main_process_ip,
                           main_process_port=args.main_process_port, cpu=args.cpu)
    summaries = run(recipe, launch=launch)
    header, rows = results_table(summaries, recipe.eval.families)
    show_table(f"{recipe.name}: held-out world test accuracy (%) and mean trace length (tokens)", header, rows)
    log.info("results: %s", recipe.run_dir / "results.md")
    return 0


def cmd_check(args) -> int:
    import yaml

    from stagewise.config import load_recipe, to_dict

    recipe = load_recipe(args.recipe, args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(recipe), sort_keys=False))
    return 0


def cmd_world(args) -> int:
    from stagewise.world.build import build_world
    from stagewise.world.scene import Difficulty
    from stagewise.world.tasks import WorldConfig

    diff = Difficulty(max_objects=args.max_objects, clutter=args.clutter, steps=args.steps)
    cfg = WorldConfig(image_size=args.image_size, difficulty=diff)
    out = build_world(args.out, args.families, {"train": args.train_size, "test": args.test_size},
                      seed=args.seed, cfg=cfg)
    log.info("world data written to %s", out)
    return 0


def cmd_model(args) -> int:
    from stagewise.models.tiny import build_tiny_model, world_corpus

    build_tiny_model(args.preset, world_corpus(args.corpus_size), args.out, seed=args.seed)
    return 0


def cmd_eval(args) -> int:
    import torch

    from stagewise.data.sources import load_rows, to_trl_rows
    from stagewise.eval.world_eval import evaluate
    from stagewise.models.load import load_model_and_processor
    from stagewise.train.pipeline import results_table

    if args.threads:
        torch.set_num_threads(args.threads)
    tests = {}
    for fam in args.families:
        split = Path(args.world) / fam / "test"
        tests[fam] = to_trl_rows(load_rows(split, limit=args.limit), instruction=args.instruction or None,
                                 source=fam)
    model, processor = load_model_and_processor(args.model, dtype=torch.float32)
    summary = evaluate(model, processor, tests, args.out, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens)
    header, rows = results_table({Path(args.model).name: summary}, args.families)
    show_table("held-out world test accuracy (%)", header, rows)
    log.info("per-item results: %s", Path(args.out) / "items.jsonl")
    return 0


def cmd_plan(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.memory import plan

    recipe = load_recipe(args.recipe, args.overrides)
    result = plan(recipe, args.gpus, prompt_tokens=args.prompt_tokens, gpu_memory_gib=args.gpu_memory)
    log.info("%s: %.3f B parameters (vision %.3f B)", result["model"], result["parameters"] / 1e9,
             result["vision"] / 1e9)
    parts = ["weights", "gradients", "optimizer", "reference", "activations", "vllm", "total"]
    for name, rows in result["stages"].items():
        r0 = rows[0]
        title = (f"stage {name}: GiB per GPU on {r0['train_gpus']} training GPU(s), {r0['trainable'] / 1e9:.3f} B "
                 f"trained, micro-batch {r0['micro_batch']} x {r0['seq_len']} tokens")
        table = [[r["strategy"]] + [f"{r[k]:.2f}" for k in parts] + ["yes" if r["fits"] else "NO"] for r in rows]
        show_table(title, ["strategy"] + parts + [f"fits {args.gpu_memory:g} GiB"], table)
    return 0


def cmd_export_easyr1(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.export.easyr1 import export_easyr1

    recipe = load_recipe(args.recipe, args.overrides)
    out = export_easyr1(recipe, args.out, gpus_per_node=args.gpus_per_node, nnodes=args.nnodes)
    log.info("EasyR1 project written to %s; run: EASYR1_DIR=/path/to/EasyR1 bash %s", out, Path(out) / "train.sh")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from stagewise.world.tasks import FAMILIES

    p = argparse.ArgumentParser(prog="stagewise", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train a recipe's stages in order and evaluate them")
    r.add_argument("recipe")
    r.add_argument("overrides", nargs="*", help="dotted overrides, e.g. stages.perception.trainer.steps=10")
    r.add_argument("--launcher", choices=["local", "accelerate"], default="local",
                   help="train each stage in this process (local) or through `accelerate launch`")
    r.add_argument("--accelerate-config", help="accelerate config file, e.g. recipes/accelerate/zero3.yaml")
    r.add_argument("--num-processes", type=int, help="training processes over all machines")
    r.add_argument("--num-machines", type=int, default=1)
    r.add_argument("--machine-rank", type=int, default=0)
    r.add_argument("--main-process-ip", help="address of machine 0 (multi-node)")
    r.add_argument("--main-process-port", type=int, help="rendezvous port on machine 0 (multi-node)")
    r.add_argument("--cpu", action="store_true", help="launch CPU processes (gloo), e.g. to try DDP on a laptop")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="load a recipe (with overrides) and print it resolved")
    c.add_argument("recipe")
    c.add_argument("overrides", nargs="*")
    c.set_defaults(func=cmd_check)

    pl = sub.add_parser("plan", help="per-GPU memory of each stage under DDP, ZeRO-1/2/3 and FSDP")
    pl.add_argument("recipe")
    pl.add_argument("overrides", nargs="*")
    pl.add_argument("--gpus", type=int, required=True, help="GPUs over all machines")
    pl.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU (H100: 80, H200: 141)")
    pl.add_argument("--prompt-tokens", type=int, default=1024, help="prompt length (text + image tokens)")
    pl.set_defaults(func=cmd_plan)

    ex = sub.add_parser("export", help="export a recipe for another training stack")
    ex_sub = ex.add_subparsers(dest="target", required=True)
    er = ex_sub.add_parser("easyr1", help="per-stage EasyR1 data, configs, reward function and launch script")
    er.add_argument("recipe")
    er.add_argument("overrides", nargs="*")
    er.add_argument("--out", required=True)
    er.add_argument("--gpus-per-node", type=int, default=8)
    er.add_argument("--nnodes", type=int, default=1)
    er.set_defaults(func=cmd_export_easyr1)

    w = sub.add_parser("world", help="generate procedural world data (HF datasets + JSONL + images)")
    w.add_argument("--out", required=True)
    w.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    w.add_argument("--train-size", type=int, default=2000)
    w.add_argument("--test-size", type=int, default=200)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--image-size", type=int, default=112)
    w.add_argument("--max-objects", type=int, default=5)
    w.add_argument("--clutter", type=int, default=0)
    w.add_argument("--steps", type=int, default=2)
    w.set_defaults(func=cmd_world)

    m = sub.add_parser("model", help="build a tiny Qwen2-VL model from a preset (random init, local tokenizer)")
    m.add_argument("--preset", default="tiny")
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--corpus-size", type=int, default=1500)
    m.set_defaults(func=cmd_model)

    e = sub.add_parser("eval", help="score a model (hub id or folder) on world test splits")
    e.add_argument("model")
    e.add_argument("--world", required=True, help="world data folder (from `stagewise world`)")
    e.add_argument("--out", required=True)
    e.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    e.add_argument("--limit", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--max-new-tokens", type=int, default=128)
    e.add_argument("--instruction", default="think_boxed", help="prompt template; '' for none")
    e.add_argument("--threads", type=int, default=0)
    e.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    _quiet_libraries()
    from stagewise.config import RecipeError
    from stagewise.data.sources import DataError

    try:
        return args.func(args)
    except (RecipeError, DataError, FileNotFoundError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
