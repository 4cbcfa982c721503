"""Helpers the benchmark modules share: reading annotations and images, pre-extraction, accuracy tables."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from PIL import Image

from stagewise.data.sources import DataError
from stagewise.rewards.verify import extract_answer, strip_think

log = logging.getLogger(__name__)

# Pre-extraction before a benchmark's own rule: "chain" strips the think block and takes the last \boxed{},
# else the <answer> tag, else "the answer is X", else the whole visible text; "raw" hands the response over
# untouched (what the official scripts read).
EXTRACT_STYLES = ("chain", "raw")


@dataclass(frozen=True)
class Generation:
    """How `stagewise eval run` generates for a benchmark unless the command line says otherwise."""

    instruction: str | None = None
    """Template appended to the benchmark's prompt (None: the benchmark's own prompt alone)."""
    max_new_tokens: int = 1024
    """Greedy decoding budget per response."""
    batch_size: int = 16
    """Requests per generation batch."""


def pre_extract(response: str, style: str = "chain") -> str:
    if style == "raw":
        return response
    if style != "chain":
        raise ValueError(f"unknown extraction style {style!r}; expected one of {EXTRACT_STYLES}")
    found = extract_answer(response)
    return found if found is not None else strip_think(response).strip()


# ------------------------------------------------------------------------------------------- reading
def read_records(
    source: str | Path,
    split: str | None = None,
    limit: int | None = None,
    config: str | None = None,
    keep: Callable[[dict], bool] | None = None,
) -> list[dict]:
    """Annotation rows from a JSON list/dict, JSONL, parquet, TSV, a saved HF dataset folder or a hub id.

    A JSON dict keyed by id (MathVista, LogicVista) becomes a list with the key under `_key`. `limit` (the
    first N rows) reads only those rows where the format allows it: a hub id streams N rows instead of
    downloading the split, a parquet file reads one batch, JSONL stops after N lines. Hub images stay encoded
    ({"bytes", "path"}) until a row is generated for. `config`: the hub dataset's configuration (BLINK's
    tasks). `keep`: only rows it accepts (a benchmark's subset), so that `limit` counts the rows the loader
    wants and a streamed hub split stops after N of them.
    """
    if keep is not None:
        if limit and not Path(source).exists():  # a hub id: filter while streaming
            return read_hub(str(source), split or "test", limit, config, keep)
        return [r for r in read_records(source, split, None, config) if keep(r)][: limit or None]
    path = Path(source)
    if not path.exists() and (str(source).startswith((".", "/")) or path.suffix):
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return [dict(r) for r in datasets.load_from_disk(str(path))]
        if (path / "dataset_dict.json").exists():
            dd = datasets.load_from_disk(str(path))
            return [dict(r) for r in dd[split or next(iter(dd))]]
        files = sorted(path.glob("*.parquet")) + sorted(path.glob("*/*.parquet"))
        if files:
            return [r for f in files for r in read_records(f)]
        raise DataError(f"{path}: no saved HF dataset or parquet files in this folder")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
        if isinstance(data, dict):
            return [{"_key": k, **v} for k, v in data.items()]
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list or a dict keyed by id")
        return data
    if path.suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            if limit and len(rows) >= limit:
                break
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        return rows
    if path.suffix == ".parquet":
        if limit:
            batch = next(pq.ParquetFile(path).iter_batches(batch_size=limit), None)
            return batch.to_pylist() if batch is not None else []
        return pq.read_table(path).to_pylist()
    if path.suffix in (".tsv", ".csv"):
        with open(path, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))
    if path.exists():
        raise DataError(f"{path}: unsupported file type (JSON, JSONL, parquet, TSV or a dataset folder)")
    return read_hub(str(source), split or "test", limit, config)


def read_hub(
    repo: str,
    split: str,
    limit: int | None = None,
    config: str | None = None,
    keep: Callable[[dict], bool] | None = None,
) -> list[dict]:
    """Rows of a hub dataset (downloads unless HF_HUB_OFFLINE is set), images left encoded: decoding a whole
    split of PIL images up front costs minutes and gigabytes. With `limit`, N rows (that `keep` accepts) are
    streamed."""
    if limit:
        ds = datasets.load_dataset(repo, config, split=split, streaming=True).decode(False)
        return [dict(r) for r in itertools.islice(filter(keep, ds) if keep else ds, limit)]
    ds = datasets.load_dataset(repo, config, split=split)
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(name, datasets.Image(decode=False))
    return [dict(r) for r in ds]


def need(record: dict, field: str, where: str, types: tuple = (str,)):
    """A required field of the right type, else a DataError naming the file/row and the field."""
    if field not in record:
        raise DataError(f"{where}: missing field {field!r}")
    value = record[field]
    if not isinstance(value, types):
        raise DataError(
            f"{where}: field {field!r} has type {type(value).__name__}, expected "
            f"{' or '.join(t.__name__ for t in types)}"
        )
    return value


def image_ref(value, base: Path | None) -> Image.Image | Path | None:
    """An image cell as the dataset stores it: PIL, HF {"bytes","path"}, base64 (TSV), or a relative path.

    Paths stay paths (opened only when generating), so scoring never needs the image files.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        if value.get("bytes"):
            return Image.open(io.BytesIO(value["bytes"]))
        value = value.get("path")
        if not value:
            return None
    if isinstance(value, bytes):
        return Image.open(io.BytesIO(value))
    text = str(value)
    if (
        len(text) > 512
    ):  # no path is this long: VLMEvalKit TSVs inline images as base64 (JPEG's starts with "/")
        return Image.open(io.BytesIO(base64.b64decode(text)))
    path = Path(text)
    return path if path.is_absolute() or base is None else base / path


def open_image(ref: Image.Image | Path) -> Image.Image:
    if isinstance(ref, Image.Image):
        return ref.convert("RGB")
    if not Path(ref).exists():
        raise DataError(f"image file not found: {ref} (pass --images with the benchmark's image folder)")
    with Image.open(ref) as im:
        return im.convert("RGB")


def numbered(recs: list[dict], limit: int | None, source: str | Path):
    """(index, record, "<source>: row <index>") for the first `limit` records (all: None or 0), the `where`
    every loader's errors name."""
    for i, r in enumerate(recs[:limit] if limit else recs):
        yield i, r, f"{source}: row {i}"


def base_dir(source: str | Path, images: str | Path | None) -> Path | None:
    if images:
        return Path(images)
    path = Path(source)
    return (path if path.is_dir() else path.parent) if path.exists() else None


# ------------------------------------------------------------------------------------------- metrics
def acc(correct: int, total: int) -> dict:
    return {"accuracy": 100.0 * correct / total if total else 0.0, "correct": correct, "total": total}


def breakdown(rows: Iterable[dict], results: Iterable[dict], key: Callable[[dict], object]) -> dict:
    """Accuracy per value of `key(row)`; a list value counts the row under each of its entries.

    Sorted by accuracy, highest first (the order MathVista's scorer prints).
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, res in zip(rows, results, strict=True):
        values = key(row)
        for v in values if isinstance(values, list) else [values]:
            if v is None:  # the official scorers count no group for a missing value
                continue
            counts[str(v)][0] += bool(res["correct"])
            counts[str(v)][1] += 1
    table = {k: acc(c, t) for k, (c, t) in counts.items()}
    return dict(sorted(table.items(), key=lambda kv: kv[1]["accuracy"], reverse=True))


def overall(results: list[dict]) -> dict:
    return acc(sum(bool(r["correct"]) for r in results), len(results))


def letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def options_block(options: list[str]) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in zip(letters(len(options)), options, strict=True))
