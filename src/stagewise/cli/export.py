"""`stagewise export`: a recipe for another training stack (EasyR1)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("stagewise")


def cmd_export_easyr1(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.export.easyr1 import export_easyr1

    recipe = load_recipe(args.recipe, args.overrides)
    out = export_easyr1(recipe, args.out, gpus_per_node=args.gpus_per_node, nnodes=args.nnodes)
    log.info(
        "EasyR1 project written to %s; run: EASYR1_DIR=/path/to/EasyR1 bash %s", out, Path(out) / "train.sh"
    )
    return 0


def add_export_command(sub) -> None:
    ex = sub.add_parser("export", help="export a recipe for another training stack")
    ex_sub = ex.add_subparsers(dest="target", required=True)
    er = ex_sub.add_parser("easyr1", help="per-stage EasyR1 data, configs, reward function and launch script")
    er.add_argument("recipe")
    er.add_argument("overrides", nargs="*")
    er.add_argument("--out", required=True)
    er.add_argument("--gpus-per-node", type=int, default=8)
    er.add_argument("--nnodes", type=int, default=1)
    er.set_defaults(func=cmd_export_easyr1)
