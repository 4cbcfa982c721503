"""Reading a run (or grid) directory back: which models were evaluated, in which order, and their per-item
rows.

Only the directory convention of `stagewise.train.pipeline` is relied on, so a run that stopped half-way (a
stage without a manifest, a stage never evaluated) is read as far as it goes and what is missing is listed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# World task family or benchmark -> the capability it measures (the report's column groups and averages).
CAPABILITY = {
    "perception": "perception",
    "textual": "textual_reasoning",
    "visual": "visual_reasoning",
    **dict.fromkeys(("mmstar", "pope", "hallusionbench", "realworldqa", "aokvqa"), "perception"),
    **dict.fromkeys(
        ("mathvista", "mathverse", "mathvision", "wemath", "dynamath", "logicvista"), "visual_reasoning"
    ),
}


@dataclass
class EvalRef:
    """One evaluated model of a run."""

    label: str
    """`base` or `<variant>/seed<k>/<stage>`."""
    variant: str
    """`base`, or the grid arm (`staged`, `merged`, ...)."""
    seed: int | None
    """Training seed (None for the base)."""
    stage: str
    """Stage folder name (`base` for the base)."""
    position: int
    """0 for the base, then 1, 2, ... along the variant's stage chain (checkpoint order)."""
    eval_dir: Path
    """Folder with `items.jsonl` and `summary.json`."""


@dataclass
class RunLayout:
    """What a run directory holds, and what it should hold but does not."""

    run_dir: Path
    """The run (or grid) directory."""
    evals: list[EvalRef] = field(default_factory=list)
    """Evaluated models (base first, then each variant's stages in chain order)."""
    stages: dict[str, list[Path]] = field(default_factory=dict)
    """`<variant>/seed<k>` -> its stage folders in chain order."""
    missing: list[str] = field(default_factory=list)
    """Human-readable notes on what is absent or unfinished."""


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a torn last line (a killed writer) is skipped, any other bad line is an error."""
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):
                log.warning("%s:%d: torn last line skipped", path, i)
                continue
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{i}: row is not a JSON object")
        rows.append(row)
    return rows


def _manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def stage_chain(seed_dir: Path) -> tuple[list[Path], list[Path]]:
    """Finished stage folders of one `<variant>/seed<k>` in training order (each manifest names the folder it
    started from), and the unfinished ones."""
    unfinished = []
    folders = [d for d in sorted(seed_dir.iterdir()) if d.is_dir() and d.name != "eval"]
    done = {}
    for d in folders:
        m = _manifest(d)
        if m is None or m.get("status") != "done":
            unfinished.append(d)
            continue
        done[d] = m
    # Match by folder name, not full path: the run may have been written under another (relative) path.
    names = {d.name: d for d in done}

    def parent(m: dict) -> Path | None:
        src = Path(m.get("started_from") or "")
        return names.get(src.name) if src.parent.name == seed_dir.name else None

    children = {parent(m): d for d, m in done.items() if parent(m) is not None}
    roots = [d for d, m in done.items() if parent(m) is None]
    chain: list[Path] = []
    node = roots[0] if len(roots) == 1 else None
    while node is not None and node not in chain:
        chain.append(node)
        node = children.get(node)
    if len(chain) != len(done):  # not one chain (copied folders, odd paths): fall back to manifest mtimes
        chain = sorted(done, key=lambda d: (d / "manifest.json").stat().st_mtime)
    return chain, unfinished


def scan_run(run_dir: str | Path) -> RunLayout:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    layout = RunLayout(run_dir)
    base_eval = run_dir / "eval" / "base"
    if (base_eval / "items.jsonl").exists():
        layout.evals.append(EvalRef("base", "base", None, "base", 0, base_eval))
    else:
        layout.missing.append("eval/base: the base model was not evaluated")
    for seed_dir in sorted(run_dir.glob("*/seed*")):
        if not seed_dir.is_dir() or not seed_dir.name.removeprefix("seed").isdigit():
            continue
        variant, seed = seed_dir.parent.name, int(seed_dir.name.removeprefix("seed"))
        chain, unfinished = stage_chain(seed_dir)
        where = f"{variant}/{seed_dir.name}"
        layout.missing += [f"{where}/{d.name}: stage not finished (no done manifest)" for d in unfinished]
        layout.stages[where] = chain
        if not chain:
            layout.missing.append(f"{where}: no finished stage")
        for pos, name in enumerate([d.name for d in chain + unfinished], start=1):
            edir = seed_dir / "eval" / name
            if (edir / "items.jsonl").exists():
                layout.evals.append(
                    EvalRef(f"{variant}/{seed_dir.name}/{name}", variant, seed, name, pos, edir)
                )
            else:
                layout.missing.append(f"{where}/eval/{name}: not evaluated")
    if not layout.stages:
        layout.missing.append("no <variant>/seed<k>/ folders: nothing was trained")
    for name in ("results.json", "grid.json"):
        if not (run_dir / name).exists():
            layout.missing.append(f"{name}: not written (the run did not finish)")
    return layout


def data_index(run_dir: Path, split: str = "test") -> dict[str, dict]:
    """id -> the world row's light fields (family, kind, difficulty, problem, answer, caption, image path)
    from `data/<family>/<split>.jsonl`; empty when the run has no world data."""
    out: dict[str, dict] = {}
    for path in sorted((run_dir / "data").glob(f"*/{split}.jsonl")):
        for row in read_jsonl(path):
            if "id" in row:
                images = [str((path.parent / p).resolve()) for p in row.get("images") or []]
                out[str(row["id"])] = {**row, "family": path.parent.name, "images": images}
    return out


def benchmark_outputs(ref: EvalRef) -> list[tuple[str, Path]]:
    """(benchmark, items.jsonl) of the benchmarks scored beside the world splits (`<eval
    dir>/<benchmark>/`)."""
    return [
        (d.name, d / "items.jsonl")
        for d in sorted(ref.eval_dir.iterdir())
        if d.is_dir() and d.name != "diagnosis" and (d / "items.jsonl").exists()
    ]


def load_items(
    ref: EvalRef, index: dict[str, dict] | None = None, path: Path | None = None, benchmark: str | None = None
) -> list[dict]:
    """The model's per-item rows (the world splits, or `path` of `benchmark`), labelled with
    variant/seed/stage/position and joined with the data's difficulty; `after_think_tokens` = response tokens
    outside the think block (tags included)."""
    path = path or ref.eval_dir / "items.jsonl"
    rows = read_jsonl(path)
    index = index or {}
    out = []
    for i, r in enumerate(rows, start=1):
        for key in ("id", "correct", "response_tokens"):
            if key not in r:
                raise ValueError(f"{path}:{i}: missing field {key!r}")
        extra = index.get(str(r["id"]), {})
        family = benchmark or r.get("family") or extra.get("family") or ""
        response_tokens = int(r["response_tokens"] or 0)
        think_tokens = int(r.get("think_tokens") or 0)
        out.append(
            {
                **r,
                "variant": ref.variant,
                "seed": ref.seed,
                "stage": ref.stage,
                "position": ref.position,
                "model": ref.label,
                "family": family,
                "kind": r.get("kind") or extra.get("kind") or "",
                "benchmark": benchmark or r.get("benchmark") or family,
                "capability": CAPABILITY.get(family, r.get("benchmark") or family or "unknown"),
                "difficulty": r.get("difficulty", extra.get("difficulty")),
                "think_tokens": think_tokens,
                "after_think_tokens": max(0, response_tokens - think_tokens),
                "truncated": bool(r.get("truncated", False)),
            }
        )
    return out
