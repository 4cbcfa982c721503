"""A run folder's `manifest.json`: written `started` (with what the folder was planned from) when its step
begins and `done` when the step finished; a folder that is done is never redone. A killed training step
resumes from its newest complete checkpoint."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from stagewise.config import Recipe
from stagewise.train.provenance import Planned, mark_started, read_manifest
from stagewise.utils import atomic_write_json


def versions() -> dict:
    # Imported here: this module is read by light commands; by the time a step writes its manifest they are
    # loaded.
    import datasets
    import torch
    import transformers
    import trl

    import stagewise

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "datasets": datasets.__version__,
        "stagewise": stagewise.__version__,
    }


def is_done(folder: Path) -> bool:
    manifest = folder / "manifest.json"
    return manifest.exists() and json.loads(manifest.read_text()).get("status") == "done"


def write_manifest(folder: Path, recipe: Recipe, **fields) -> None:
    """The folder is done; what it was planned from (recorded when it started) is kept."""
    started = read_manifest(folder) or {}
    if "planned_from" in started:
        fields.setdefault("planned_from", started["planned_from"])
    atomic_write_json(
        folder / "manifest.json",
        {"status": "done", "recipe": recipe.name, "seed": recipe.seed, "versions": versions(), **fields},
    )


def relative(path: Path | str, run_dir: Path) -> str:
    """A path inside the run folder relative to it (a moved or copied run folder stays consistent); a hub id
    or an outside folder as given."""
    try:
        return str(Path(path).absolute().relative_to(run_dir.absolute()))
    except ValueError:
        return str(path)


def mark_planned(folder: Path, planned: dict[str, Planned] | None, run_dir: Path) -> None:
    """Record that the step writing `folder` started, with what it is planned from (no plan: nothing
    recorded)."""
    if planned is not None:
        mark_started(folder, planned[relative(folder, run_dir)])


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* TRL checkpoint (trainer_state.json is written last), or None."""
    ckpts = []
    for c in (folder / "checkpoints").glob("checkpoint-*"):
        step = c.name.removeprefix("checkpoint-")
        if step.isdigit() and (c / "trainer_state.json").exists():
            ckpts.append((int(step), c))
    return max(ckpts)[1] if ckpts else None
