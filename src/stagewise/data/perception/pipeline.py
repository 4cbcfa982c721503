"""One call from world captions to a perception training set: offline writer -> filter -> export."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from stagewise.data.perception import sources
from stagewise.data.perception.export import export
from stagewise.data.perception.filter import (
    FilterConfig,
    FilterModel,
    model_from_spec,
    read_items,
    run_filter,
)
from stagewise.data.perception.writer import WriterConfig, write_mcq
from stagewise.data.sources import DataError
from stagewise.utils import atomic_write_json

log = logging.getLogger(__name__)


def balance_answers(items: list[dict]) -> list[dict]:
    """At most as many items per (question kind, gold letter) as the kind's rarest kept letter has, the first
    ones in id order; a kind kept with one letter only is dropped. What the filter keeps is what the model
    mis-sees, which is bunched on a few answers, and RL on such a set learns those answers rather than looking
    (measured on the demo: BENCHMARKS.md)."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for it in sorted(items, key=lambda r: r["id"]):
        groups[it.get("kind", "")][it["answer"]].append(it)
    out = []
    for by_letter in groups.values():
        if len(by_letter) < 2:
            continue
        cap = min(len(v) for v in by_letter.values())
        out += [it for v in by_letter.values() for it in v[:cap]]
    return sorted(out, key=lambda r: r["id"])


def build_perception_set(
    world: str | Path | list,
    filter_models: list[str | FilterModel],
    out_dir: str | Path,
    families: tuple[str, ...] = ("perception", "visual"),
    split: str = "train",
    limit: int | None = None,
    filter_cfg: FilterConfig | None = None,
    fractions: dict[str, float] | None = None,
    question_style: str = "varied",
    balance: bool = False,
    question_kinds: list[str] | None = None,
) -> Path:
    """Build the demo's perception training set and return the folder of its train split (an HF dataset that
    `stagewise.data.sources.load_rows` reads, i.e. a stage's `data.paths` entry).

    `world` is a world folder (from `stagewise world` / the pipeline's `data/`) or a list of world `Item`s;
    `filter_models` are model folders/hub ids (or `FilterModel`s); `question_style` is the offline writer's
    (`varied` or `world`, see stagewise.data.perception.offline); `balance` evens out the kept items' gold
    letters per question kind (`balance_answers`) before export; `question_kinds` narrows the `world` style's
    kinds (a recipe's `world.perception_kinds`). Layout under `out_dir`: `mcq/` (written
    items), `filter/` (decisions + report), `export/` (every format). Every step resumes from its cache; a
    finished build with the same settings returns at once.
    """
    out = Path(out_dir)
    models = [m if isinstance(m, FilterModel) else model_from_spec(str(m)) for m in filter_models]
    cfg = filter_cfg or FilterConfig()
    cfg.models = models
    spec = {
        "world": str(world) if not isinstance(world, list) else [it.id for it in world],
        "families": list(families),
        "split": split,
        "limit": limit,
        "filter": json.loads(json.dumps(asdict(cfg), default=str)),
        "fractions": fractions,
        "question_style": question_style,
        "balance": balance,
    }
    if question_kinds:  # only when set, so the folders built before this setting existed stay valid
        spec["question_kinds"] = list(question_kinds)
    marker = out / "done.json"
    if marker.exists() and json.loads(marker.read_text()).get("spec") == spec:
        log.info("perception set already built in %s", out)
        return out / "export" / "trl" / "train"
    if isinstance(world, list):
        records = sources.world_items(world, out)
    else:
        records = sources.world(world, families=tuple(families), split=split)
    records = records[:limit] if limit is not None else records
    written = write_mcq(
        records,
        out / "mcq",
        WriterConfig(writer="offline", style=question_style, kinds=list(question_kinds or [])),
    )
    report = run_filter(read_items(out / "mcq"), out / "filter", cfg)
    kept = read_items(out / "filter" / "kept.jsonl")
    if balance:
        n_kept, kept = len(kept), balance_answers(kept)
        log.info("balanced the kept items' answers per question kind: %d of %d", len(kept), n_kept)
    counts = export(kept, out / "export", fractions)
    if not counts.get("train"):
        raise DataError(f"the filter kept no training items (see {out / 'filter' / 'filter_report.md'})")
    atomic_write_json(
        marker,
        {
            "spec": spec,
            "written": written["written"],
            "kept": report["kept"],
            "exported": len(kept),
            "keep_rate": report["keep_rate"],
            "splits": counts,
        },
    )
    return out / "export" / "trl" / "train"
