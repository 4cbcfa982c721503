"""Turn world items into files: HF datasets (what TRL reads) and the paper's on-disk JSONL schema.

Layout written by `build_world(out_dir, ...)`:
    out_dir/<family>/<split>/          HF dataset (save_to_disk), image column for visual families
    out_dir/<family>/<split>.jsonl     {index, problem, answer, images, source, ...} rows (EasyR1/verl style)
    out_dir/images/<id>.png            the images the JSONL rows point to
    out_dir/world.json                 what was built, with the config, so a rebuild can be skipped
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import datasets

from stagewise.utils import atomic_write_text
from stagewise.world.render import render
from stagewise.world.tasks import FAMILIES, Item, WorldConfig, generate

log = logging.getLogger(__name__)


def item_row(item: Item, image_size: int) -> dict:
    """A flat row; `image` is a PIL image for visual families and absent for textual ones."""
    row = {
        "id": item.id,
        "family": item.family,
        "kind": item.kind,
        "problem": item.question,
        "answer": item.answer,
        "answer_kind": item.answer_kind,
        "solution": item.trace,
        "caption": item.caption,
        "difficulty": item.difficulty,
        "options": json.dumps(item.options),
        "scene": json.dumps(item.scene.to_dict()),
        # What the image shows, where a mis-seeing annotator wrote `scene` up otherwise ("": the same).
        "image_scene": json.dumps(item.image_scene.to_dict()) if item.image_scene else "",
    }
    if item.has_image:
        row["image"] = render(item.image_scene or item.scene, image_size)
    return row


def _key(item: Item) -> str:
    return item.question + json.dumps(item.scene.to_dict(), sort_keys=True)


def build_splits(
    family: str,
    sizes: dict[str, int],
    seed: int,
    cfg: WorldConfig,
    split_cfgs: dict[str, WorldConfig] | None = None,
) -> dict[str, list[Item]]:
    """Items per split; later splits never repeat an item of an earlier one (test is drawn first).

    `split_cfgs` gives some splits their own settings (the warm-start split's mis-seeing annotator)."""
    order = sorted(sizes, key=lambda s: {"test": 0, "val": 1}.get(s, 2))
    seen: set[str] = set()
    out: dict[str, list[Item]] = {}
    for i, split in enumerate(order):
        items: list[Item] = []
        batch = 0
        split_cfg = (split_cfgs or {}).get(split, cfg)
        while len(items) < sizes[split]:  # redraw until enough fresh items (collisions are rare)
            need = sizes[split] - len(items)
            draw_seed = seed * 1000 + i * 100 + batch
            for it in generate(family, need, seed=draw_seed, cfg=split_cfg, prefix=f"{split}-"):
                if _key(it) not in seen:
                    seen.add(_key(it))
                    items.append(it)
            batch += 1
        out[split] = items[: sizes[split]]
    return out


def to_dataset(items: list[Item], image_size: int) -> datasets.Dataset:
    rows = [item_row(it, image_size) for it in items]
    ds = datasets.Dataset.from_list(rows)
    if rows and "image" in rows[0]:
        ds = ds.cast_column("image", datasets.Image())
    return ds


def write_jsonl(items: list[Item], path: Path, image_dir: Path, image_size: int) -> None:
    """The paper's schema: `problem` carries an `<image>` placeholder where an image goes."""
    lines = []
    for idx, it in enumerate(items):
        images = []
        if it.has_image:
            img_path = image_dir / f"{it.id}.png"
            if not img_path.exists():
                render(it.image_scene or it.scene, image_size).save(img_path)
            images = [os.path.relpath(img_path, path.parent)]
        problem = ("<image>" + it.question) if it.has_image else it.question
        lines.append(
            json.dumps(
                {
                    "index": idx,
                    "problem": problem,
                    "answer": it.answer,
                    "images": images,
                    "source": f"world/{it.family}",
                    "id": it.id,
                    "kind": it.kind,
                    "answer_kind": it.answer_kind,
                    "solution": it.trace,
                    "caption": it.caption,
                    "difficulty": it.difficulty,
                }
            )
        )
    atomic_write_text(path, "\n".join(lines) + "\n")


def build_world(
    out_dir: str | Path,
    families: list[str],
    sizes: dict[str, int],
    seed: int = 0,
    cfg: WorldConfig | None = None,
    split_cfgs: dict[str, WorldConfig] | None = None,
) -> Path:
    """Write every family's splits; skipped when `world.json` says the same thing was built already."""
    cfg = cfg or WorldConfig()
    out = Path(out_dir)
    for fam in families:
        if fam not in FAMILIES:
            raise ValueError(f"unknown task family {fam!r}; expected one of {', '.join(FAMILIES)}")
    spec = {"families": sorted(families), "sizes": sizes, "seed": seed, "config": asdict(cfg)}
    if split_cfgs:
        spec["split_configs"] = {split: asdict(c) for split, c in sorted(split_cfgs.items())}
    marker = out / "world.json"
    if marker.exists() and json.loads(marker.read_text()) == spec:
        log.info("world data already built in %s", out)
        return out
    (out / "images").mkdir(parents=True, exist_ok=True)
    for fam in families:
        splits = build_splits(fam, sizes, seed, cfg, split_cfgs)
        for split, items in splits.items():
            to_dataset(items, cfg.image_size).save_to_disk(str(out / fam / split))
            write_jsonl(items, out / fam / f"{split}.jsonl", out / "images", cfg.image_size)
            log.info("world: %s/%s %d items", fam, split, len(items))
    atomic_write_text(marker, json.dumps(spec, indent=2))
    return out
