"""One planned stage: what each `accelerate launch` child runs.

    accelerate launch [...] -m stagewise.train.stage_main --launch-dir OUT/launch --start-from DIR
        --out OUT --seed S

`--launch-dir` holds what `stagewise.train.launch.launch_stage` wrote: the resolved recipe and the plan
(settings and its exact rows). The child calls the pipeline's own `train_stage`, so a launched stage trains,
saves and writes its manifest (rank 0) exactly as an in-process one does.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="stagewise.train.stage_main", description=__doc__)
    p.add_argument(
        "--launch-dir", required=True, help="recipe.yaml, plan.json and rows/ written by the launcher"
    )
    p.add_argument("--start-from", required=True, help="model folder or hub id the stage starts from")
    p.add_argument("--out", required=True, help="the stage's folder")
    p.add_argument("--seed", type=int, required=True)
    args = p.parse_args(argv)

    import torch
    from accelerate import PartialState

    from stagewise.config import load_recipe
    from stagewise.train.launch import read_plan
    from stagewise.train.pipeline import train_stage

    state = PartialState()  # joins the process group accelerate launch set up
    logging.basicConfig(
        level=logging.INFO if state.is_main_process else logging.WARNING,
        format=f"[rank {state.process_index}] %(name)s: %(message)s",
    )
    folder = Path(args.launch_dir)
    recipe = load_recipe(folder / "recipe.yaml")
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    start = Path(args.start_from) if Path(args.start_from).exists() else args.start_from
    train_stage(recipe, read_plan(folder), start, Path(args.out), args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
