"""Kept items -> splits by a hash of the id -> the formats trainers read.

Written under `out_dir`:
    images/<id>.<ext>                 the images, copied once (hard-linked where possible)
    trl/<split>/                      HF dataset in the world's schema: `stagewise` stages train on it
                                      directly (a stage's `data.paths` entry), TRL reads it through
                                      `to_trl_rows`
    easyr1/<split>.jsonl|.parquet     EasyR1/verl rows `{problem, answer, images, ...}`, images relative to
                                      the file
    llamafactory/caption_sft.json     LLaMA-Factory ShareGPT rows (image, "Please generate a detailed
                                      caption", caption) for the caption-SFT baseline, train split only
    llamafactory/dataset_info.json    its LLaMA-Factory dataset entry
    splits.json                       ids per split and the fractions used
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import datasets

from stagewise.data.perception.parse import mcq_text
from stagewise.data.prompts import load_prompt
from stagewise.utils import atomic_write_json, atomic_write_jsonl

log = logging.getLogger(__name__)

SPLITS = {"train": 0.85, "val": 0.05, "test": 0.10}


def split_of(item_id: str, fractions: dict[str, float] = SPLITS) -> str:
    """A split chosen by the id's hash: stable across runs, machines and item order."""
    u = int(hashlib.sha256(item_id.encode()).hexdigest()[:15], 16) / 16**15
    edge = 0.0
    for name, frac in fractions.items():
        edge += frac
        if u < edge:
            return name
    return list(fractions)[-1]


def _copy_image(src: str, images: Path, item_id: str) -> Path:
    dst = images / (hashlib.sha1(item_id.encode()).hexdigest()[:16] + (Path(src).suffix or ".png"))
    if not dst.exists():
        tmp = dst.with_name(f".{dst.name}.tmp")
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return dst


FEATURES = datasets.Features(
    {
        k: datasets.Value("string")
        for k in ("id", "family", "kind", "problem", "answer", "answer_kind", "caption", "options", "source")
    }
    | {"image": datasets.Image()}
)


def _trl_dataset(rows: list[dict]) -> datasets.Dataset:
    recs = []
    for r in rows:
        recs.append(
            {
                "id": r["id"],
                "family": "perception",
                "kind": r["kind"],
                "problem": r["problem_text"],
                "answer": r["answer"],
                "answer_kind": "choice",
                "caption": r["caption"],
                "options": json.dumps(r["options"]),
                "source": r.get("source", ""),
                "image": {"bytes": Path(r["image_path"]).read_bytes(), "path": None},
            }
        )
    # from_dict with explicit columns: from_list of no rows would lose the schema.
    return datasets.Dataset.from_dict({k: [r[k] for r in recs] for k in FEATURES}, features=FEATURES)


def _save_dataset(ds: datasets.Dataset, folder: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.save_to_disk(str(tmp))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _parquet(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    schema = pa.schema(
        [
            ("index", pa.int64()),
            ("problem", pa.string()),
            ("answer", pa.string()),
            ("images", pa.list_(pa.string())),
            ("source", pa.string()),
            ("id", pa.string()),
            ("kind", pa.string()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    os.replace(tmp, path)


def export(items: list[dict], out_dir: str | Path, fractions: dict[str, float] | None = None) -> dict:
    """Write every format for `items` (rows of `kept.jsonl`); returns `{split: n}`."""
    fractions = fractions or SPLITS
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    out = Path(out_dir)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[dict]] = {s: [] for s in fractions}
    for it in sorted(items, key=lambda r: r["id"]):  # the same files whatever order items came in
        img = _copy_image(it["image"], images, it["id"])
        by_split[split_of(it["id"], fractions)].append(
            {**it, "image_path": str(img), "problem_text": mcq_text(it["question"], it["options"])}
        )
    for split, rows in by_split.items():
        if rows:
            _save_dataset(_trl_dataset(rows), out / "trl" / split)
        else:  # datasets cannot load a saved dataset with no rows; an empty split has no folder
            shutil.rmtree(out / "trl" / split, ignore_errors=True)
        easy = [
            {
                "index": i,
                "problem": "<image>" + r["problem_text"],
                "answer": r["answer"],
                "images": [os.path.relpath(r["image_path"], out / "easyr1")],
                "source": r.get("source") or "perception",
                "id": r["id"],
                "kind": r["kind"],
            }
            for i, r in enumerate(rows)
        ]
        atomic_write_jsonl(out / "easyr1" / f"{split}.jsonl", easy)
        _parquet(easy, out / "easyr1" / f"{split}.parquet")
    request = load_prompt("caption")
    sft = [
        {
            "messages": [
                {"role": "user", "content": "<image>" + request},
                {"role": "assistant", "content": r["caption"]},
            ],
            "images": [os.path.relpath(r["image_path"], out / "llamafactory")],
        }
        for r in by_split.get("train", [])
    ]
    atomic_write_json(out / "llamafactory" / "caption_sft.json", sft)
    atomic_write_json(
        out / "llamafactory" / "dataset_info.json",
        {
            "caption_sft": {
                "file_name": "caption_sft.json",
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "images": "images"},
                "tags": {
                    "role_tag": "role",
                    "content_tag": "content",
                    "user_tag": "user",
                    "assistant_tag": "assistant",
                },
            }
        },
    )
    counts = {s: len(r) for s, r in by_split.items()}
    atomic_write_json(
        out / "splits.json",
        {
            "fractions": fractions,
            "counts": counts,
            "ids": {s: [r["id"] for r in rows] for s, rows in by_split.items()},
        },
    )
    log.info("export: %s -> %s", counts, out)
    return counts
