"""Captioned images from DOCCI, PixMo-Cap, any HF dataset, or the procedural world -> caption records.

A caption record is a plain dict: `{"id", "caption", "image" (a file path), "source", "scene" (world only)}`.
Loaders never raise on a bad row: they pass it on, and `validate` counts and reports every bad record by id
and field (missing or unreadable image, empty caption, duplicate id, unreadable line) instead of crashing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image

from stagewise.data.sources import DataError

log = logging.getLogger(__name__)


def _safe(name: str) -> str:
    """A file-name-safe form of an id (ids from hub datasets may hold slashes)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]


def _jsonl(path: Path) -> list[tuple[int, dict | None, str]]:
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(
                (
                    lineno,
                    obj if isinstance(obj, dict) else None,
                    "" if isinstance(obj, dict) else "row is not a JSON object",
                )
            )
        except json.JSONDecodeError as e:
            out.append((lineno, None, f"not valid JSON ({e.msg})"))
    return out


def docci(path: str | Path, image_dir: str | Path | None = None, split: str | None = None, **_) -> list[dict]:
    """DOCCI's layout: a JSONL of `{example_id, description, image_file, split}` and a folder of images
    (default: `images/` beside the JSONL). With `split`, rows of other splits are left out."""
    path = Path(path)
    image_dir = Path(image_dir) if image_dir else path.parent / "images"
    records = []
    for lineno, row, err in _jsonl(path):
        if row is None:
            records.append({"id": f"{path.name}:{lineno}", "error": err, "field": "line"})
            continue
        if split and row.get("split", split) != split:
            continue
        records.append(
            {
                "id": str(row.get("example_id", "")) or f"{path.name}:{lineno}",
                "caption": row.get("description"),
                "source": "docci",
                "image": str(image_dir / row["image_file"]) if row.get("image_file") else None,
            }
        )
    return records


def _pixmo_image(row: dict, image_dir: Path) -> str | None:
    if row.get("image_path"):
        return str(image_dir / row["image_path"])
    names = []
    if row.get("image_sha256"):
        names += [row["image_sha256"] + ext for ext in ("", ".jpg", ".jpeg", ".png", ".webp")]
    if row.get("image_url"):
        names.append(Path(urlparse(row["image_url"]).path).name)
    for name in names:
        if name and (image_dir / name).exists():
            return str(image_dir / name)
    return str(image_dir / names[0]) if names else None


def pixmo(path: str | Path, image_dir: str | Path | None = None, **_) -> list[dict]:
    """PixMo-Cap style: rows `{image_url, caption}` (JSONL, parquet or a saved HF dataset) with the images
    downloaded into `image_dir`, named by `image_sha256` (any common extension) or by the URL's file name."""
    path = Path(path)
    image_dir = Path(image_dir) if image_dir else path.parent / "images"
    if path.suffix == ".jsonl":
        rows = [(n, r, e) for n, r, e in _jsonl(path)]
    else:
        rows = [(i + 1, dict(r), "") for i, r in enumerate(_load_table(str(path), "train"))]
    records = []
    for n, row, err in rows:
        if row is None:
            records.append({"id": f"{path.name}:{n}", "error": err, "field": "line"})
            continue
        rid = row.get("image_sha256") or (
            hashlib.sha1(row["image_url"].encode()).hexdigest()[:16]
            if row.get("image_url")
            else f"{path.name}:{n}"
        )
        records.append(
            {
                "id": str(rid),
                "caption": row.get("caption"),
                "source": "pixmo",
                "image": _pixmo_image(row, image_dir),
            }
        )
    return records


def _load_table(name_or_path: str, split: str):
    import datasets

    p = Path(name_or_path)
    if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()):
        ds = datasets.load_from_disk(str(p))
        return ds[split] if isinstance(ds, datasets.DatasetDict) else ds
    if p.suffix == ".parquet":
        return datasets.load_dataset("parquet", data_files=str(p), split="train")
    return datasets.load_dataset(name_or_path, split=split)


def hf(
    path: str,
    work_dir: str | Path,
    image_column: str = "image",
    caption_column: str = "caption",
    id_column: str | None = None,
    split: str = "train",
    image_dir: str | Path | None = None,
    **_,
) -> list[dict]:
    """Any HF dataset (hub id, saved folder or parquet file) with an image column (images or paths) and a
    caption column. Embedded images are written once to `work_dir/images/<id>.png`."""
    ds = _load_table(path, split)
    for col in (image_column, caption_column):
        if col not in ds.column_names:
            raise DataError(f"{path}: no column {col!r} (columns: {', '.join(ds.column_names)})")
    out_images = Path(work_dir) / "images"
    out_images.mkdir(parents=True, exist_ok=True)
    records = []
    for i, row in enumerate(ds):
        rid = str(row[id_column]) if id_column else f"{i:07d}"
        img = row[image_column]
        if isinstance(img, Image.Image):
            target = out_images / f"{_safe(rid)}.png"
            if not target.exists():
                img.convert("RGB").save(target)
            img = str(target)
        elif isinstance(img, str) and image_dir:
            img = str(Path(image_dir) / img)
        records.append(
            {
                "id": rid,
                "caption": row[caption_column],
                "source": f"hf:{path}",
                "image": img if isinstance(img, str) else None,
            }
        )
    return records


def world(
    path: str | Path, families: tuple[str, ...] = ("perception", "visual"), split: str = "train", **_
) -> list[dict]:
    """The procedural world built by `stagewise world`: every visual item's caption, image and scene graph."""
    import datasets

    path = Path(path)
    records = []
    for fam in families:
        folder = path / fam / split
        if not folder.exists():
            raise DataError(f"{folder}: no world split here (build it with `stagewise world`)")
        ds = datasets.load_from_disk(str(folder)).select_columns(["id", "caption", "scene"])
        for row in ds:
            records.append(
                {
                    "id": row["id"],
                    "caption": row["caption"],
                    "source": f"world/{fam}",
                    "image": str(path / "images" / f"{row['id']}.png"),
                    "scene": json.loads(row["scene"]),
                }
            )
    return records


def world_items(items: list, work_dir: str | Path, image_size: int = 112) -> list[dict]:
    """Records for world `Item`s held in memory; their images are rendered into `work_dir/images/`."""
    from stagewise.world.render import render

    out_images = Path(work_dir) / "images"
    out_images.mkdir(parents=True, exist_ok=True)
    records = []
    for it in items:
        target = out_images / f"{_safe(it.id)}.png"
        if not target.exists():
            render(it.image_scene or it.scene, image_size).save(target)
        records.append(
            {
                "id": it.id,
                "caption": it.caption,
                "source": f"world/{it.family}",
                "image": str(target),
                "scene": it.scene.to_dict(),
            }
        )
    return records


SOURCES: dict[str, Callable[..., list[dict]]] = {"docci": docci, "pixmo": pixmo, "hf": hf, "world": world}


def _image_problem(path: str | None) -> str | None:
    if not path:
        return "no image given"
    if not Path(path).exists():
        return f"image file not found: {path}"
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # PIL raises many types for broken files
        return f"unreadable image {path} ({type(e).__name__})"
    return None


def validate(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(good records, bad ones as `{id, field, reason}`): duplicates after the first, empty captions, missing
    or unreadable images and unreadable lines. Nothing raises."""
    good, bad, seen = [], [], set()
    for r in records:
        rid = str(r.get("id") or "")
        if r.get("error"):
            bad.append({"id": rid, "field": r.get("field", ""), "reason": r["error"]})
            continue
        if not rid:
            bad.append({"id": rid, "field": "id", "reason": "empty id"})
            continue
        if rid in seen:
            bad.append({"id": rid, "field": "id", "reason": "duplicate id"})
            continue
        seen.add(rid)
        caption = r.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            bad.append({"id": rid, "field": "caption", "reason": "empty caption"})
            continue
        problem = _image_problem(r.get("image"))
        if problem:
            bad.append({"id": rid, "field": "image", "reason": problem})
            continue
        good.append(r)
    for b in bad:
        log.warning("bad input %s (%s): %s", b["id"], b["field"], b["reason"])
    return good, bad
