"""One stage from a resolved recipe: what each `accelerate launch` child runs.

    accelerate launch [...] -m stagewise.train.stage_main --recipe R --stage NAME --start-from DIR --data-dir DIR

It calls the pipeline's own `train_stage`, so a launched stage trains, saves and writes its manifest (rank 0)
exactly as an in-process one does.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="stagewise.train.stage_main", description=__doc__)
    p.add_argument("--recipe", required=True, help="resolved recipe YAML (written by the launcher)")
    p.add_argument("--stage", required=True, help="stage name")
    p.add_argument("--start-from", required=True, help="model folder or hub id the stage starts from")
    p.add_argument("--data-dir", required=True, help="the run's world data folder")
    args = p.parse_args(argv)

    import torch
    from accelerate import PartialState

    from stagewise.config import load_recipe
    from stagewise.train.pipeline import train_stage

    state = PartialState()  # joins the process group accelerate launch set up
    logging.basicConfig(level=logging.INFO if state.is_main_process else logging.WARNING,
                        format=f"[rank {state.process_index}] %(name)s: %(message)s")
    recipe = load_recipe(args.recipe)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    stage = next((s for s in recipe.stages if s.name == args.stage), None)
    if stage is None:
        raise SystemExit(f"{args.recipe}: no stage named {args.stage!r}")
    start = Path(args.start_from) if Path(args.start_from).exists() else args.start_from
    train_stage(recipe, stage, start, Path(args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
