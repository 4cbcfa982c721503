"""`stagewise step STEP RECIPE`: one step of `stagewise run` over the run folder, so the pipeline reads (and
reruns) as a script (recipes/tiny/staged.sh). Each step reads only the folders the steps before it left, under
the same lock and recipe check as `run`; a finished folder is never redone (`--redo` redoes it)."""

from __future__ import annotations

import logging

from stagewise.cli.run import add_launch_args, add_redo_args, launch_options, show_results

log = logging.getLogger("stagewise")


def _recipe(args):
    from stagewise.config import load_recipe, select_variants

    return select_variants(load_recipe(args.recipe, args.overrides), args.variants)


def _folder(args, recipe, seeds: list[int], machine_rank: int = 0):
    # The pipeline (torch, transformers, TRL) is imported when a step runs: `stagewise --help` stays quick.
    from stagewise.train.pipeline import run_folder

    return run_folder(
        recipe,
        seeds,
        f"step {args.step}",
        redo=args.redo,
        fresh=args.fresh,
        wait=args.wait,
        machine_rank=machine_rank,
    )


def cmd_step_world(args) -> int:
    from stagewise.train.pipeline import build_data

    recipe = _recipe(args)
    with _folder(args, recipe, [recipe.seed]) as planned:
        log.info("world data: %s", build_data(recipe, planned))
    return 0


def cmd_step_base(args) -> int:
    from stagewise.train.pipeline import build_base, built_data

    recipe = _recipe(args)
    with _folder(args, recipe, [recipe.seed]) as planned:
        log.info("base model: %s", build_base(recipe, built_data(recipe), planned))
    return 0


def cmd_step_perception_set(args) -> int:
    from stagewise.train.pipeline import build_perception_set, built_base, built_data

    recipe = _recipe(args)
    with _folder(args, recipe, [recipe.seed]) as planned:
        if build_perception_set(recipe, built_data(recipe), built_base(recipe), planned) is None:
            log.info("no stage of %s trains on a perception set: nothing to build", recipe.name)
    return 0


def cmd_step_stage(args) -> int:
    from stagewise.train.pipeline import built_base, built_data, require_done, run_one_stage

    recipe = _recipe(args)
    seed = recipe.seed if args.seed is None else args.seed
    launch = launch_options(args)
    if launch.machine_rank > 0:
        from stagewise.train.launch import wait_for_machine_0

        wait_for_machine_0(recipe)
    with _folder(args, recipe, [seed], launch.machine_rank) as planned:
        data_dir, base = built_data(recipe), built_base(recipe)
        if recipe.perception_set is not None and any(st.data.perception_set for st in recipe.stages):
            require_done(data_dir / "perception_set", "perception-set")
        out = run_one_stage(
            recipe, args.variant, seed, args.stage, base, data_dir, launch=launch, planned=planned
        )
        log.info("stage %s: %s", args.stage, out)
    return 0


def cmd_step_eval(args) -> int:
    from stagewise.train.pipeline import built_base, built_data, eval_targets, evaluate_run, require_done

    recipe = _recipe(args)
    seeds = args.seed or [recipe.seed]
    with _folder(args, recipe, seeds) as planned:
        data_dir, base = built_data(recipe), built_base(recipe)
        to_eval, _ = eval_targets(recipe, seeds, base)
        for label, path, _ in to_eval[1:]:  # label: variant/seedN/stage
            variant, seed, stage = label.split("/")
            require_done(
                path, "stage", f" --variant {variant} --seed {seed.removeprefix('seed')} --stage {stage}"
            )
        evaluate_run(recipe, to_eval, data_dir, planned)
        log.info("evaluated: %s", ", ".join(label for label, _, _ in to_eval))
    return 0


def cmd_step_results(args) -> int:
    from stagewise.train.pipeline import built_base, built_data, eval_targets, evaluate_models, write_results

    recipe = _recipe(args)
    seeds = args.seed or [recipe.seed]
    with _folder(args, recipe, seeds) as planned:
        data_dir, base = built_data(recipe), built_base(recipe)
        to_eval, finals = eval_targets(recipe, seeds, base)
        for label, _, out in to_eval:
            if not (out / "summary.json").exists():
                raise FileNotFoundError(
                    f"{out}: {label} is not evaluated; run `stagewise step eval RECIPE` first"
                )
        # Every summary.json exists, so evaluate_models only reads them (and the benchmarks' metrics) back.
        out = write_results(recipe, evaluate_models(recipe, to_eval, data_dir, planned), to_eval, finals)
    show_results(recipe, out, every_model=True)
    return 0


def add_step_commands(sub) -> None:
    st = sub.add_parser(
        "step",
        help="one step of `stagewise run` over its run folder (world, base, "
        "perception-set, stage, eval, results): the pipeline as a script",
    )
    ssub = st.add_subparsers(dest="step", required=True)

    def step(name: str, help: str, func):
        p = ssub.add_parser(name, help=help)
        p.add_argument("recipe")
        p.add_argument("overrides", nargs="*", help="dotted overrides, as for `stagewise run`")
        p.set_defaults(func=func, variants=None)
        return p

    add_redo_args(step("world", "build the procedural world data (RUN/data)", cmd_step_world))
    add_redo_args(
        step("base", "build the starting model and its warm start (RUN/init, RUN/base)", cmd_step_base)
    )
    add_redo_args(
        step(
            "perception-set",
            "write and filter the perception questions with the base (RUN/data/perception_set)",
            cmd_step_perception_set,
        )
    )
    s = step(
        "stage",
        "train one stage of one variant and seed from the stage before it (RUN/VARIANT/seedN/STAGE)",
        cmd_step_stage,
    )
    s.add_argument(
        "--variant", required=True, help="the arm (a name under the recipe's variants; staged if none)"
    )
    s.add_argument(
        "--stage",
        required=True,
        help="the stage's folder name (a recipe stage; merged for the "
        "merged arm, caption_sft for the caption-SFT arm's first)",
    )
    s.add_argument("--seed", type=int, default=None, help="default: the recipe's seed")
    add_launch_args(s)
    add_redo_args(s)
    for name, help, func in (
        (
            "eval",
            "evaluate the base and every trained model on the world test splits (RUN/eval, "
            "RUN/VARIANT/seedN/eval)",
            cmd_step_eval,
        ),
        (
            "results",
            "write and show the tables: results.md|json, paired.json, grid.md|json",
            cmd_step_results,
        ),
    ):
        e = step(name, help, func)
        e.add_argument(
            "--variant",
            dest="variants",
            action="append",
            metavar="NAME",
            default=None,
            help="only this arm (repeatable; default: every variant)",
        )
        e.add_argument(
            "--seed",
            type=int,
            action="append",
            default=None,
            help="seeds to take (repeatable; default: the recipe's seed)",
        )
        add_redo_args(e)
