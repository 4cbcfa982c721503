"""What each folder of a run was planned from, so that a rerun never reuses results its recipe did not make.

`planned_folders(recipe, seeds)` lists every folder a run writes (data, init, base, perception set, difficulty
cache, each variant's stages, each evaluation) with the recipe settings it depends on, flattened to dotted
keys, and the folders it is made from. It needs no data: a rerun is checked before any work. Each folder's
manifest records its fields and their hash when the folder is started (`mark_started`); `check` compares them
with the current recipe and raises `RecipeChanged` listing every changed field, unless the user asked for
those folders to be redone (`--redo NAME`) or for a fresh run (`--fresh`). Downstream folders name the hash of
the folder they start from, so a change propagates along the chain: a changed perception stage changes every
later stage.

Paths never enter the fields: a model folder outside the run is identified by its name, config and weight
sizes, a data file by its content hash, and folders inside the run by their own hashes, so a copied or moved
run folder continues.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stagewise.config import Recipe, get_variant, variant_names, variant_recipe
from stagewise.utils import atomic_write_json

log = logging.getLogger(__name__)

# Settings that change how a run is watched or where it writes, not what it computes.
NOT_RESULTS = {
    "threads",
    "output_dir",
    "name",
    "seeds",
    "report_to",
    "project",
    "logging_steps",
    "save_steps",
    "server_host",
    "server_port",
}
CURRICULA = ("difficulty", "capability_difficulty")


class RecipeChanged(RuntimeError):
    """A rerun whose recipe differs from what finished (or started) folders were made from."""


@dataclass
class Planned:
    """One folder of a run: what it depends on."""

    folder: str
    """Path relative to the run folder."""
    fields: dict
    """Dotted setting -> value (JSON), including the hashes of the folders it is made from."""
    after: list[str] = field(default_factory=list)
    """Folders (relative) this one is made from: redoing one of them redoes this one."""

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.fields, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def record(self) -> dict:
        return {"hash": self.hash, "fields": self.fields}


def flatten(value, prefix: str = "") -> dict:
    """Nested mappings as dotted keys; lists of mappings by index; settings in NOT_RESULTS left out."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in NOT_RESULTS:
                continue
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or ({prefix: {}} if prefix else {})
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def model_identity(source: str) -> dict:
    """A model outside the run: a hub id as named; a local folder by name, config and weight files (name and
    size; hashing tens of GB of weights on every rerun would cost minutes)."""
    path = Path(source)
    if not (path / "config.json").is_file():
        return {"model": source}
    weights = {p.name: p.stat().st_size for p in sorted(path.glob("*.safetensors"))}
    return {"model": path.name, "model_config": _sha_file(path / "config.json"), "model_weights": weights}


def data_identity(path: str) -> str | dict:
    """A stage's data path: a file by content hash, a folder by its files' names and sizes, else (a hub id)
    the name."""
    p = Path(path)
    if p.is_file():
        return {"name": p.name, "sha256": _sha_file(p)}
    if p.is_dir():
        return {
            "name": p.name,
            "files": {str(f.relative_to(p)): f.stat().st_size for f in sorted(p.rglob("*")) if f.is_file()},
        }
    return path


def planned_folders(recipe: Recipe, seeds: list[int]) -> dict[str, Planned]:
    """Every folder `pipeline.run(recipe, seeds)` writes, in the order it writes them."""
    from stagewise.models.tiny import PRESETS
    from stagewise.train.plan import plan_outline

    out: dict[str, Planned] = {}

    def add(p: Planned) -> Planned:
        out[p.folder] = p
        return p

    d = asdict(recipe)
    ws = recipe.model.warmstart
    # settings added since folders were first planned count only when set, so those folders keep their hash
    world = {
        "world": {k: v for k, v in d["world"].items() if v or k not in ("trace_styles", "perception_kinds")}
    }
    if ws is not None:
        world["warmstart"] = {
            "size": ws.size,
            "confusions": ws.confusions,
            "confusion_rate": ws.confusion_rate,
        }
        if ws.hedge_rate:  # named only when set: folders planned before the setting existed keep their hash
            world["warmstart"]["hedge_rate"] = ws.hedge_rate
    data = add(Planned("data", flatten(world)))

    start_fields, start_after = model_identity(recipe.model.source), []
    if recipe.model.source in PRESETS:
        init = add(
            Planned(
                "init",
                {"preset": recipe.model.source, "corpus_size": recipe.model.corpus_size, "seed": recipe.seed},
            )
        )
        start_fields, start_after = {"start": init.hash}, ["init"]
    if ws is not None:
        style = recipe.perception_set.question_style if recipe.perception_set else "varied"
        instruction = recipe.stages[0].data.instruction if recipe.stages else "think_boxed"
        base = add(
            Planned(
                "base",
                {
                    **flatten({"warmstart": d["model"]["warmstart"]}),
                    **start_fields,
                    "data": data.hash,
                    "seed": recipe.seed,
                    "question_style": style,
                    "instruction": instruction,
                },
                [*start_after, "data"],
            )
        )
        start_fields, start_after = {"start": base.hash}, ["base"]

    ps = None
    if recipe.perception_set is not None and any(s.data.perception_set for s in recipe.stages):
        filt = (
            start_fields
            if recipe.perception_set.filter_model == "base"
            else model_identity(recipe.perception_set.filter_model)
        )
        ps = add(
            Planned(
                "data/perception_set",
                {
                    **flatten({"perception_set": d["perception_set"]}),
                    **filt,
                    "data": data.hash,
                    "seed": recipe.seed,
                },
                ["data", *(start_after if recipe.perception_set.filter_model == "base" else [])],
            )
        )

    diff = None
    curricula = [v for v in variant_names(recipe) if get_variant(recipe, v).kind in CURRICULA]
    if curricula and recipe.difficulty.model is not None:
        dm = recipe.difficulty.model
        rates_from = start_fields if dm == "base" else model_identity(dm)
        diff = add(
            Planned(
                "difficulty",
                {**flatten({"difficulty": d["difficulty"]}), **rates_from},
                start_after if dm == "base" else [],
            )
        )

    evals = [
        Planned(
            "eval/base",
            {
                **flatten({"eval": d["eval"]}),
                **start_fields,
                "data": data.hash,
                "instruction": recipe.stages[0].data.instruction if recipe.stages else None,
            },
            [*start_after, "data"],
        )
    ]
    for variant in variant_names(recipe):
        vr = variant_recipe(recipe, variant)
        v = get_variant(vr, variant)
        for seed in seeds:
            prev_fields, prev_after = start_fields, start_after
            outline = plan_outline(vr, variant)
            for pos, (name, stages) in enumerate(outline):
                fields = {
                    **flatten({"variant": {k: x for k, x in asdict(v).items() if k != "overrides"}}),
                    **prev_fields,
                    "data": data.hash,
                    "seed": seed,
                }
                after = [*prev_after, "data"]
                for s in stages:
                    fields.update(flatten({f"stage.{s.name}": asdict(s)}))
                    fields.update(
                        {
                            f"stage.{s.name}.data.paths[{i}]": data_identity(p)
                            for i, p in enumerate(s.data.paths)
                        }
                    )
                    if s.data.perception_set and ps is not None:
                        fields["perception_set"] = ps.hash
                        after.append(ps.folder)
                if v.kind in CURRICULA:
                    fields.update(flatten({"difficulty": asdict(vr.difficulty)}))
                    if diff is not None:
                        fields["pass_rates"] = diff.hash
                        after.append(diff.folder)
                stage = add(Planned(f"{variant}/seed{seed}/{name}", fields, after))
                prev_fields, prev_after = {"start": stage.hash}, [stage.folder]
                if recipe.eval.after_each_stage or pos == len(outline) - 1:
                    evals.append(
                        Planned(
                            f"{variant}/seed{seed}/eval/{name}",
                            {
                                **flatten({"eval": d["eval"]}),
                                "start": stage.hash,
                                "data": data.hash,
                                "instruction": stages[0].data.instruction,
                            },
                            [stage.folder, "data"],
                        )
                    )
    for e in evals:
        add(e)
    return out


def read_manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def mark_started(folder: Path, planned: Planned) -> None:
    """Record what `folder` is made from before its work starts (a killed step's checkpoints and caches are
    then checked on the rerun like finished results). A finished folder keeps its manifest, and one already
    started from the same plan is left as it is (a rerun rewrites nothing it does not redo)."""
    m = read_manifest(folder)
    if m is not None and (
        m.get("status") == "done" or (m.get("planned_from") or {}).get("hash") == planned.hash
    ):
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "manifest.json", {"status": "started", "planned_from": planned.record()})


def _changes(old: dict, new: dict) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            what = "its starting model changed" if key == "start" else f"{_short(a)} -> {_short(b)}"
            out.append(f"{key}: {what}")
    return out


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _matches(name: str, folder: str) -> bool:
    parts = folder.split("/")
    return (
        folder == name
        or folder.startswith(name.rstrip("/") + "/")
        or parts[-1] == name
        or (name == "eval" and "eval" in parts)
    )


def downstream(planned: dict[str, Planned], roots: set[str]) -> set[str]:
    """`roots` and every folder made (directly or not) from one of them."""
    out = set(roots)
    for folder, p in planned.items():  # planned is in dependency order
        if any(a in out for a in p.after):
            out.add(folder)
    return out


def check(run_dir: Path, planned: dict[str, Planned], redo: list[str] | None = None) -> list[str]:
    """The folders to redo: those named by `redo` and everything made from them. Raises RecipeChanged if a
    started or finished folder was made from other settings and is not among them."""
    redo = redo or []
    roots = set()
    for name in redo:
        hit = {f for f in planned if _matches(name, f)}
        if not hit:
            raise RecipeChanged(
                f"--redo {name}: no such step in this run; steps: "
                + ", ".join(sorted({f.split("/")[-1] for f in planned} | {"eval"}))
            )
        roots |= hit
    to_redo = downstream(planned, roots)
    changed: dict[str, list[str]] = {}
    for folder, p in planned.items():
        m = read_manifest(run_dir / folder)
        if m is None or folder in to_redo:
            continue
        rec = m.get("planned_from")
        if rec is None:
            log.warning(
                "%s: no record of what it was made from (written before stagewise kept one); "
                "assuming the current recipe",
                run_dir / folder,
            )
            continue
        if rec.get("hash") != p.hash:
            changed[folder] = _changes(rec.get("fields", {}), p.fields)
    if changed:
        lines = [f"  {folder}: " + "; ".join(c) for folder, c in changed.items()]
        first = [f for f in changed if not any(a in changed for a in planned[f].after)]
        raise RecipeChanged(
            f"{run_dir}: the recipe differs from what these folders were made from:\n"
            + "\n".join(lines)
            + "\nNothing was changed. Rerun with --redo "
            f"{' '.join(sorted({f.split('/')[-1] for f in first}))} "
            "to redo those steps (and everything made from them; the old folders are kept under "
            f"{run_dir}/superseded/), with --fresh to start the run over, or name another run (name=...)."
        )
    return [f for f in planned if f in to_redo and (run_dir / f).exists()]


def supersede(run_dir: Path, folders: list[str]) -> Path | None:
    """Move `folders` (relative) aside into `superseded/<UTC time>/`, keeping what was computed."""
    if not folders:
        return None
    dest = run_dir / "superseded" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for folder in sorted(folders, key=lambda f: f.count("/")):  # parents first; children move with them
        src = run_dir / folder
        if not src.exists():
            continue
        target = dest / folder
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(target))
        log.info("redo %s: the previous folder is kept in %s", folder, target)
    return dest


def fresh(run_dir: Path, keep: tuple[str, ...] = (".lock", "superseded")) -> Path | None:
    """Move everything in the run folder aside (--fresh): the run starts over."""
    items = (
        [p.name for p in run_dir.iterdir() if p.name not in keep and not p.name.startswith(".lock")]
        if run_dir.exists()
        else []
    )
    return supersede(run_dir, items)
