"""`stagewise run|grid|check|plan`: a recipe's whole pipeline, and what can be known of it before training."""

from __future__ import annotations

import logging
import sys

import yaml

from stagewise.cli.common import show_table

log = logging.getLogger("stagewise")


def cmd_run(args) -> int:
    """`run`: every variant of the recipe (or those named by --variant) with its `seed`; `grid`: x `seeds`."""
    # The pipeline (torch, transformers, TRL) is imported when a command needs it: `stagewise --help` stays
    # quick.
    from stagewise.config import load_recipe, select_variants
    from stagewise.train.pipeline import run

    recipe = select_variants(load_recipe(args.recipe, args.overrides), args.variant)
    seeds = (recipe.seeds or [recipe.seed]) if args.command == "grid" else [recipe.seed]
    launch = launch_options(args)
    if launch.machine_rank > 0:
        from stagewise.train.launch import wait_for_machine_0

        wait_for_machine_0(recipe)
    out = run(
        recipe, seeds, launch=launch, redo=args.redo, fresh=args.fresh, wait=args.wait, command=args.command
    )
    if out["grid"] is None:  # a machine other than 0: it trained, machine 0 evaluates
        return 0
    show_results(recipe, out, every_model=args.command == "run")
    return 0


def launch_options(args):
    from stagewise.train.launch import LaunchOptions

    return LaunchOptions(
        launcher=args.launcher,
        accelerate_config=args.accelerate_config,
        num_processes=args.num_processes,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        main_process_ip=args.main_process_ip,
        main_process_port=args.main_process_port,
        cpu=args.cpu,
    )


def show_results(recipe, out: dict, every_model: bool) -> None:
    """The tables a run wrote (`every_model`: each evaluated model and its paired difference to the base, then
    the variants side by side; else only the latter)."""
    from stagewise.train.summary import grid_table, results_table

    if every_model:
        header, rows = results_table(out["models"], recipe.eval.families)
        show_table(
            f"{recipe.name}: held-out world test accuracy (%) and mean trace length (tokens)", header, rows
        )
        if out.get("paired"):
            from stagewise.analysis.paired import collapse_free_table, paired_table

            header, rows = paired_table(out.get("paired"), recipe.eval.families)
            show_table(
                f"{recipe.name}: each model minus the base on the same items (points ± 95% interval; "
                "* excludes 0)",
                header,
                rows,
            )
            header, rows = collapse_free_table(out.get("paired"), recipe.eval.families)
            show_table(
                f"{recipe.name}: the same without the question kinds either model answers with one answer "
                "(90%+ of items)",
                header,
                rows,
            )
    header, rows = grid_table(out["grid"])
    show_table(f"{recipe.name}: variants side by side (final models; accuracy %, trace tokens)", header, rows)
    log.info("results: %s and %s", recipe.run_dir / "results.md", recipe.run_dir / "grid.md")


def cmd_check(args) -> int:
    from stagewise.config import load_recipe, to_dict

    recipe = load_recipe(args.recipe, args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(recipe), sort_keys=False))
    return 0


def cmd_plan(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.memory import plan

    recipe = load_recipe(args.recipe, args.overrides)
    result = plan(recipe, args.gpus, prompt_tokens=args.prompt_tokens, gpu_memory_gib=args.gpu_memory)
    log.info(
        "%s: %.3f B parameters (vision %.3f B)",
        result["model"],
        result["parameters"] / 1e9,
        result["vision"] / 1e9,
    )
    parts = ["weights", "gradients", "optimizer", "reference", "activations", "vllm", "total"]
    for name, rows in result["stages"].items():
        r0 = rows[0]
        prompt = result["prompt_tokens"][name]
        title = (
            f"stage {name}: GiB per GPU on {r0['train_gpus']} training GPU(s), {r0['trainable'] / 1e9:.3f} B "
            f"trained, micro-batch {r0['micro_batch']} x {r0['seq_len']} tokens (prompt {prompt['tokens']}: "
            f"{prompt['from']}; weights trained from {recipe.model.train_dtype})"
        )
        table = [
            [r["strategy"]] + [f"{r[k]:.2f}" for k in parts] + ["yes" if r["fits"] else "NO"] for r in rows
        ]
        show_table(title, ["strategy"] + parts + [f"fits {args.gpu_memory:g} GiB"], table)
    return 0


def _add_rerun_args(r) -> None:
    r.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        default=None,
        help="train only this arm of the recipe's variants (repeatable); the others are left as they are",
    )
    add_redo_args(r)


def add_redo_args(r) -> None:
    r.add_argument(
        "--redo",
        nargs="+",
        metavar="STEP",
        default=None,
        help="redo these steps and everything made from them (a stage name such as perception, or "
        "data, init, base, perception_set, difficulty, eval; or a folder such as staged/seed0/visual); "
        "the old folders move to RUN/superseded/",
    )
    r.add_argument(
        "--fresh", action="store_true", help="start the run over (the old contents move to RUN/superseded/)"
    )
    r.add_argument(
        "--wait",
        action="store_true",
        help="if another process writes into the run folder, wait for it (default: refuse at once)",
    )


def add_launch_args(r) -> None:
    r.add_argument(
        "--launcher",
        choices=["local", "accelerate"],
        default="local",
        help="train each stage in this process (local) or through `accelerate launch`",
    )
    r.add_argument("--accelerate-config", help="accelerate config file, e.g. recipes/accelerate/zero3.yaml")
    r.add_argument("--num-processes", type=int, help="training processes over all machines")
    r.add_argument("--num-machines", type=int, default=1)
    r.add_argument("--machine-rank", type=int, default=0)
    r.add_argument("--main-process-ip", help="address of machine 0 (multi-node)")
    r.add_argument("--main-process-port", type=int, help="rendezvous port on machine 0 (multi-node)")
    r.add_argument(
        "--cpu", action="store_true", help="launch CPU processes (gloo), e.g. to try DDP on a laptop"
    )


def add_run_commands(sub) -> None:
    """run, check and plan (grid comes later in --help: add_grid_command)."""
    r = sub.add_parser("run", help="train a recipe's stages in order and evaluate them")
    r.add_argument("recipe")
    r.add_argument("overrides", nargs="*", help="dotted overrides, e.g. stages.perception.trainer.steps=10")
    add_launch_args(r)
    _add_rerun_args(r)
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
    pl.add_argument(
        "--prompt-tokens",
        type=int,
        default=None,
        help="prompt length (text + image tokens); "
        "default: each stage's data.max_prompt_tokens, else measured on its data with the processor",
    )
    pl.set_defaults(func=cmd_plan)


def add_grid_command(sub) -> None:
    g = sub.add_parser(
        "grid", help="run every variant x seed of a recipe and summarise (mean +- std, vs merged)"
    )
    g.add_argument("recipe")
    g.add_argument("overrides", nargs="*")
    add_launch_args(g)
    _add_rerun_args(g)
    g.set_defaults(func=cmd_run)
