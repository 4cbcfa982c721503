"""Stage data: world families or files on disk -> the rows TRL trains on.

A TRL row is `{"prompt": [user message], "images": [PIL...] or [], "answer", "answer_kind", "id", "family",
"kind"}`; SFT rows add `"completion"`. TRL puts the image placeholders into the prompt itself from `images`.

Files are either HF datasets saved with `save_to_disk` (the world's format) or JSONL in the paper's schema
`{index, problem, answer, images, source}` with image paths relative to the file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
from PIL import Image

from stagewise.data.prompts import assistant_message, load_prompt
from stagewise.rewards import infer_kind

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data; the message names the file, the row and the field."""


def _prompt(problem: str, instruction: str | None) -> list[dict]:
    text = problem.replace("<image>", "").strip()
    if instruction:
        text = f"{text}\n{load_prompt(instruction)}"
    return [{"role": "user", "content": text}]


def read_jsonl_rows(path: str | Path) -> list[dict]:
    """Validated paper-schema rows, images opened; any problem raises DataError naming file, line and field."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        if not isinstance(raw, dict):
            raise DataError(f"{path}:{lineno}: row is not a JSON object")
        for key, types in (("problem", (str,)), ("answer", (str, int, float))):
            if key not in raw:
                raise DataError(f"{path}:{lineno}: missing field {key!r}")
            if not isinstance(raw[key], types):
                raise DataError(f"{path}:{lineno}: field {key!r} has type {type(raw[key]).__name__}")
        images = raw.get("images", [])
        if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
            raise DataError(f"{path}:{lineno}: field 'images' must be a list of paths")
        opened = []
        for rel in images:
            img_path = (path.parent / rel) if not Path(rel).is_absolute() else Path(rel)
            if not img_path.exists():
                raise DataError(f"{path}:{lineno}: field 'images': file not found: {img_path}")
            with Image.open(img_path) as im:
                opened.append(im.convert("RGB"))
        raw["images"] = opened
        raw["answer"] = str(raw["answer"])
        raw.setdefault("id", f"{path.stem}-{raw.get('index', lineno - 1)}")
        rows.append(raw)
    return rows


def _from_world_dataset(ds: datasets.Dataset) -> list[dict]:
    rows = []
    for r in ds:
        r = dict(r)
        r["images"] = [r.pop("image")] if r.get("image") is not None else []
        rows.append(r)
    return rows


def load_rows(path: str | Path, limit: int | None = None) -> list[dict]:
    """Raw rows (problem, answer, images, ...) from an HF dataset folder or a JSONL file."""
    path = Path(path)
    if path.is_dir() and (path / "dataset_info.json").exists():
        ds = datasets.load_from_disk(str(path))
        if limit is not None:
            ds = ds.select(range(min(limit, len(ds))))
        return _from_world_dataset(ds)
    if path.suffix == ".jsonl":
        rows = read_jsonl_rows(path)
        return rows[:limit] if limit is not None else rows
    raise DataError(f"{path}: not a JSONL file or a saved HF dataset folder")


def to_trl_rows(rows: list[dict], instruction: str | None = "think_boxed", with_completion: bool = False,
                source: str = "") -> list[dict]:
    out = []
    for r in rows:
        answer = str(r["answer"])
        row = {
            "prompt": _prompt(r["problem"], instruction),
            "images": list(r.get("images") or []),
            "answer": answer,
            "answer_kind": r.get("answer_kind") or infer_kind(answer),
            "id": str(r.get("id", "")),
            "family": r.get("family") or r.get("source") or source,
            "kind": r.get("kind", ""),
        }
        if with_completion:
            if not r.get("solution"):
                raise DataError(f"{source or 'data'}: row {row['id']!r} has no 'solution' to train on")
            row["completion"] = assistant_message(r["solution"])
        out.append(row)
    return out


def to_dataset(rows: list[dict]) -> datasets.Dataset:
    """A Dataset with an `images` list column; text-only rows carry an empty list."""
    ds = datasets.Dataset.from_list(rows)
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    return ds
