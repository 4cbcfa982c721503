"""The `stagewise` command: one subcommand per step of the method, each usable on its own."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import stagewise
from stagewise.cli import analysis as analysis_cli
from stagewise.cli import data as data_cli
from stagewise.cli import eval as eval_cli
from stagewise.cli import export as export_cli
from stagewise.cli import model as model_cli
from stagewise.cli import run as run_cli
from stagewise.cli import steps as steps_cli
from stagewise.data.sources import DataError
from stagewise.export.hub import add_publish_commands
from stagewise.lock import FolderLocked
from stagewise.rewards.score_file import add_reward_commands
from stagewise.train.checkpoint import CheckpointError

# Each command imports what it runs inside its function (the recipe machinery, torch, transformers, the
# pipeline): `stagewise --help` and `--version` load none of it. Modules imported here are loaded anyway.
log = logging.getLogger("stagewise")


def setup_logging(verbose: bool = False) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    # Logs and errors go to stderr (rich's default is stdout), so stdout carries only tables and results.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers.modeling_utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _quiet_libraries() -> None:
    import transformers

    # Library log chatter off, progress bars kept: downloads and dataset writes can take an hour and must not
    # run silently. Blocks that draw stagewise's own bar turn them off there
    # (stagewise.utils.library_bars_off).
    transformers.utils.logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _VersionAction(argparse.Action):
    """`stagewise --version`: the package and the versions a bug report needs, read without importing them."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_line() + "\n")
        parser.exit()


def version_line() -> str:
    found = []
    for pkg in ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "huggingface_hub", "vllm"):
        try:
            found.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:  # optional extras (vllm) are simply not listed
            pass
    return f"stagewise {stagewise.__version__} ({', '.join(found)}; python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stagewise", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--version", action=_VersionAction, help="print the versions of stagewise and its stack")
    sub = p.add_subparsers(dest="command", required=True)
    # The order here is the order of `stagewise --help`.
    run_cli.add_run_commands(sub)
    export_cli.add_export_command(sub)
    data_cli.add_world_command(sub)
    model_cli.add_model_command(sub)
    run_cli.add_grid_command(sub)
    steps_cli.add_step_commands(sub)
    data_cli.add_data_commands(sub)
    analysis_cli.add_analysis_commands(sub)
    add_reward_commands(sub)
    add_publish_commands(sub)
    eval_cli.add_eval_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    _quiet_libraries()
    from stagewise.config import RecipeError
    from stagewise.train.provenance import RecipeChanged

    try:
        return args.func(args)
    except (
        RecipeError,
        DataError,
        FileNotFoundError,
        ValueError,
        FolderLocked,
        RecipeChanged,
        CheckpointError,
    ) as e:
        log.error("%s", e)
        return 2
