"""Stage data: world families, files, folders or hub datasets -> the rows TRL trains on.

A TRL row is `{"prompt": [user message], "images": [...] or [], "answer", "answer_kind", "id", "family",
"kind"}`; SFT rows add `"completion"`. TRL puts the image placeholders into the prompt itself from `images`.
Images are either decoded (`load_rows(decode=True)`, PIL: the world's small images for the warm start and the
evaluation) or kept encoded as `datasets.Image` stores them, `{"path", "bytes"}` (`decode=False`: stage data
at any scale, decoded only when a batch is built).

Sources (`load_rows`): JSONL in the paper's schema `{id, problem, answer, images: [paths], ...}` read line by
line; anything `datasets` reads (JSON/parquet/arrow/CSV files, `save_to_disk` folders, `load_dataset` folders,
hub ids) through `open_dataset`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import warnings
from pathlib import Path

import datasets
from PIL import Image

from stagewise.data.prompts import assistant_message, load_prompt
from stagewise.rewards import ANSWER_KINDS, infer_kind

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data; the message names the file, the row and the field."""


# Kinds the reward knows (`stagewise.rewards.verify.is_correct`); a row with another kind would fail
# mid-training.
_KINDS = (*ANSWER_KINDS, "math")


def _prompt(problem: str, instruction: str | None) -> list[dict]:
    text = problem.replace("<image>", "").strip()
    if instruction:
        text = f"{text}\n{load_prompt(instruction)}"
    return [{"role": "user", "content": text}]


def _answer_problem(value) -> str | None:
    """Why `value` cannot be a gold answer (None if it can): null, NaN/inf, empty text or not text/number."""
    if value is None:
        return "is null"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"has type {type(value).__name__} (expected text or a number)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value} (JSON NaN/Infinity is not an answer)"
    if isinstance(value, str) and not value.strip():
        return "is empty"
    return None


def _check_fields(raw: dict, where: str) -> None:
    """Required fields present with usable values; optional ones, where given, of the right type."""
    if "problem" not in raw:
        raise DataError(f"{where}: missing field 'problem'")
    if not isinstance(raw["problem"], str):
        raise DataError(f"{where}: field 'problem' has type {type(raw['problem']).__name__}")
    if not raw["problem"].strip():
        raise DataError(f"{where}: field 'problem' is empty")
    if "answer" not in raw:
        raise DataError(f"{where}: missing field 'answer'")
    if problem := _answer_problem(raw["answer"]):
        raise DataError(f"{where}: field 'answer' {problem}")
    for key in ("id", "index"):  # null is as good as absent (a saved dataset fills missing values with null)
        value = raw.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip()
        ):
            raise DataError(f"{where}: field {key!r} is {value!r} (expected a non-empty text or an integer)")
    for key in ("solution", "source", "family", "kind", "answer_kind"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise DataError(f"{where}: field {key!r} has type {type(raw[key]).__name__} (expected text)")
    if raw.get("answer_kind") and raw["answer_kind"] not in _KINDS:
        raise DataError(
            f"{where}: field 'answer_kind' is {raw['answer_kind']!r}; expected one of {', '.join(_KINDS)}"
        )


def _checked_image(img_path: Path, where: str) -> Image.Image:
    """The image opened but not decoded, after the cheap checks: a file, a format PIL reads from its header,
    and within the pixel limit (PIL's `Image.MAX_IMAGE_PIXELS`, None for no limit; over it is an error here,
    where PIL itself only warns below twice the limit). A lazy loader can stop here (and `verify()`) and
    decode later."""
    if not img_path.exists():
        raise DataError(f"{where}: file not found: {img_path}")
    if not img_path.is_file():
        raise DataError(f"{where}: not a file: {img_path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check below is ours
            im = Image.open(img_path)
    except Image.DecompressionBombError as e:  # over twice the limit: PIL refuses it while opening
        size = re.search(r"\((\d+) pixels\)", str(e))
        raise DataError(
            f"{where}: image too large: {img_path} has {size.group(1) if size else 'too many'} pixels, "
            f"over the limit of {Image.MAX_IMAGE_PIXELS} (PIL's Image.MAX_IMAGE_PIXELS)"
        ) from e
    except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
        raise DataError(f"{where}: not a readable image: {img_path} ({type(e).__name__}: {e})") from e
    limit, (w, h) = Image.MAX_IMAGE_PIXELS, im.size
    if limit is not None and w * h > limit:
        im.close()
        raise DataError(
            f"{where}: image too large: {img_path} is {w}x{h} = {w * h} pixels, over the limit of "
            f"{limit} (PIL's Image.MAX_IMAGE_PIXELS)"
        )
    return im


def _open_image(img_path: Path, where: str) -> Image.Image:
    """The image decoded to RGB; a truncated or corrupt one is a DataError, as is anything `_checked_image`
    finds."""
    with _checked_image(img_path, where) as im:
        try:
            return im.convert("RGB")
        except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt pixel data
            raise DataError(f"{where}: broken image: {img_path} ({type(e).__name__}: {e})") from e


def _lines(path: Path):
    """(line number, text, cut) of each non-blank line, `cut` when it is a last line with no newline after it;
    bytes that are not UTF-8 raise DataError naming the line."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the data file ({e.strerror or e})") from e
    raw_lines = data.split(b"\n")  # not str.splitlines: JSON text may hold U+2028 and other line separators
    for lineno, raw in enumerate(raw_lines, start=1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                f"{e.start + 1}); save the file as UTF-8"
            ) from e
        if text.strip():
            yield lineno, text, lineno == len(raw_lines) and not data.endswith(b"\n")


class _Ids:
    """Row ids: `id`, else `<file stem>-<index>`, else `<file stem>-<row - 1>`; a repeated id is an error
    whether or not the rows agree, since rewards, logs and evaluation key on it (the message says when the
    answers differ)."""

    def __init__(self, stem: str, unit: str):
        self.stem, self.unit, self.seen = stem, unit, {}

    def assign(self, raw: dict, where: str, number: int) -> None:
        given = raw.get("id") is not None
        made = "" if given else " (made from the file name and 'index'; give each row an 'id')"
        index = raw["index"] if raw.get("index") is not None else number - 1
        raw["id"] = str(raw["id"]) if given else f"{self.stem}-{index}"
        if raw["id"] in self.seen:
            first, answer = self.seen[raw["id"]]
            differ = (
                f" with a different answer ({answer!r} there, {raw['answer']!r} here)"
                if answer != raw["answer"]
                else ""
            )
            raise DataError(
                f"{where}: field 'id': {raw['id']!r}{made} is also the id of {self.unit} {first}"
                f"{differ}; ids must be unique"
            )
        self.seen[raw["id"]] = (number, raw["answer"])


INLINE_BYTES = 16_384
"""Images embedded in a dataset (bytes) up to this size stay in the row; larger ones are written once to the
image cache and referenced by path, so a stage's rows hold no pixels and little memory whatever their
number."""


def _image_ref(value, where: str, base: Path, image_dir: Path | None, cache_dir: Path | None) -> dict:
    """One image as `datasets.Image` stores it undecoded, `{"path", "bytes"}`: a path (resolved against
    `image_dir`, else the data's own folder) checked cheaply, or embedded bytes."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: an image path is empty")
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = (image_dir or base) / p
        check_image_file(p, where)
        return {"path": str(p.absolute()), "bytes": None}
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        data = value.get("bytes")
        if data is None:
            if not value.get("path"):
                raise DataError(f"{where}: an image has neither bytes nor a path")
            return _image_ref(value["path"], where, base, image_dir, cache_dir)
        if not isinstance(data, (bytes, bytearray)):
            raise DataError(f"{where}: image bytes have type {type(data).__name__}")
        _check_image_bytes(bytes(data), where)
        if len(data) <= INLINE_BYTES or cache_dir is None:
            return {"path": None, "bytes": bytes(data)}
        return {"path": str(_cached(bytes(data), cache_dir).absolute()), "bytes": None}
    if isinstance(value, Image.Image):  # a dataset that decodes its images (one we could not keep encoded)
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return {"path": None, "bytes": buf.getvalue()}
    raise DataError(f"{where}: an image must be a path, bytes or an image, got {type(value).__name__}")


def _cached(data: bytes, cache_dir: Path) -> Path:
    """The bytes as a file named by their hash (written atomically once; identical images share a file)."""
    digest = hashlib.sha1(data).hexdigest()
    fmt = (Image.open(io.BytesIO(data)).format or "bin").lower()
    path = cache_dir / digest[:2] / f"{digest}.{fmt}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


_TAILS = {"JPEG": (b"\xff\xd9",), "PNG": (b"IEND\xaeB`\x82",)}


def check_image_file(path: Path, where: str) -> None:
    """An image file that exists, opens (format from its header), is within the pixel limit and, for JPEG and
    PNG, is not cut short (its end marker is there). No pixels are decoded: a few hundred microseconds per
    image, so 16K paper-sized images are checked in seconds; corruption inside the pixel data shows only when
    a batch decodes it. A file already checked in this process (same size and modification time) is not read
    again: every arm of a grid plans from the same files."""
    stat = path.stat() if path.is_file() else None
    key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns) if stat else None
    if key in _CHECKED:
        return
    _check_image_file(path, where)
    if key is not None:
        _CHECKED.add(key)


_CHECKED: set[tuple[str, int, int]] = set()


def _check_image_file(path: Path, where: str) -> None:
    with _checked_image(path, where) as im:
        fmt = im.format
    tail = _TAILS.get(fmt)
    if tail is None:
        return
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 64))
        end = f.read().rstrip(b"\x00 \r\n")
    if end.endswith(tail):
        return
    # No end marker: cut short, or (some cameras and editors) bytes appended after it. Only then decode, at
    # 1/8 scale for JPEG, to tell the two apart.
    with _checked_image(path, where) as im:
        try:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise DataError(f"{where}: broken image: {path} ({fmt} file cut short: {e})") from e


def _check_image_bytes(data: bytes, where: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{where}: broken embedded image ({type(e).__name__}: {e})") from e


def decode_image(ref) -> Image.Image:
    """A row's image as RGB pixels, whether it is kept encoded (`{"path", "bytes"}`) or already decoded."""
    if isinstance(ref, Image.Image):
        return ref
    src = io.BytesIO(ref["bytes"]) if ref.get("bytes") is not None else ref["path"]
    with Image.open(src) as im:
        return im.convert("RGB")


def _row_images(
    raw: dict, where: str, base: Path, image_dir: Path | None, cache_dir: Path | None, decode: bool
) -> list:
    value = raw.get("images", raw.get("image"))
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    refs = [_image_ref(v, f"{where}: field 'images'", base, image_dir, cache_dir) for v in values]
    if not decode:
        return refs
    out = []
    for ref in refs:
        if ref["path"] is not None:
            out.append(_open_image(Path(ref["path"]), f"{where}: field 'images'"))
        else:
            try:
                out.append(decode_image(ref))
            except (OSError, ValueError, SyntaxError) as e:
                raise DataError(f"{where}: field 'images': broken embedded image ({e})") from e
    return out


def _mapped(raw: dict, columns: dict[str, str] | None, where: str) -> dict:
    """The row with stagewise's field names: `columns` maps a field (problem, answer, images, id, ...) to the
    source's column (e.g. EasyR1's `prompt_key`/`image_key`: `{problem: prompt, images: image_path}`)."""
    if not columns:
        return raw
    out = dict(raw)
    for fld, col in columns.items():
        if col not in raw:
            raise DataError(
                f"{where}: no column {col!r} (data.columns.{fld}); the row has "
                f"{', '.join(sorted(map(str, raw))) or 'no columns'}"
            )
        out[fld] = raw[col]
    return out


_PROBLEM_LIKE = ("prompt", "question", "query")
_IMAGES_LIKE = ("image_path", "image_paths", "image_file", "image_files", "img", "imgs")


def _problem_hint(raw: dict) -> str:
    found = [a for a in _PROBLEM_LIKE if a in raw]
    return (
        f" (the row has {found[0]!r}: map it with `data.columns: {{problem: {found[0]}}}`)" if found else ""
    )


def _rows(
    records,
    stem: str,
    base: Path,
    *,
    columns: dict[str, str] | None,
    image_dir: Path | None,
    cache_dir: Path | None,
    decode: bool,
    limit: int | None,
    unit: str = "line",
) -> list[dict]:
    """Validated rows from `(where, number, raw dict)` records; any problem is a DataError naming where."""
    rows, ids = [], _Ids(stem, unit)
    for where, number, raw in records:
        if limit is not None and len(rows) >= limit:
            break
        if not isinstance(raw, dict):
            raise DataError(f"{where}: row is not a JSON object")
        raw = _mapped(raw, columns, where)
        try:
            _check_fields(raw, where)
        except DataError as e:
            raise DataError(f"{e}{_problem_hint(raw) if 'problem' not in raw else ''}") from None
        if "images" not in raw and "image" not in raw:
            # never a silent text-only row: an image column under another name must be mapped
            other = [c for c in _IMAGES_LIKE if raw.get(c)]
            if other:
                raise DataError(
                    f"{where}: the row has no 'images' field but a {other[0]!r} column; map it with "
                    f"`data.columns: {{images: {other[0]}}}` (and `data.image_dir` for relative paths)"
                )
        if "images" in raw and raw["images"] is not None and not isinstance(raw["images"], list):
            raise DataError(f"{where}: field 'images' must be a list of images (paths or bytes)")
        raw["answer"] = str(raw["answer"])
        ids.assign(raw, where, number)
        raw["images"] = _row_images(raw, where, base, image_dir, cache_dir, decode)
        raw.pop("image", None)
        rows.append(raw)
    if not rows:
        raise DataError(f"{stem}: no rows")
    return rows


def _jsonl_records(path: Path):
    for lineno, line, cut in _lines(path):
        where = f"{path}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            hint = "; the last line looks cut short (a partly written file?)" if cut else ""
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno}){hint}") from e
        yield where, lineno, raw


def read_jsonl_rows(
    path: str | Path,
    *,
    columns: dict[str, str] | None = None,
    image_dir: str | Path | None = None,
    cache_dir: Path | None = None,
    decode: bool = True,
    limit: int | None = None,
) -> list[dict]:
    """Validated paper-schema rows; images decoded (`decode`) or kept as checked references. Any problem
    raises DataError naming file, line and field. Image paths are relative to `image_dir`, else to the file. A
    file with no rows is an error."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    try:
        return _rows(
            _jsonl_records(path),
            path.stem,
            path.parent,
            columns=columns,
            image_dir=Path(image_dir) if image_dir else None,
            cache_dir=cache_dir,
            decode=decode,
            limit=limit,
        )
    except DataError as e:
        if str(e) == f"{path.stem}: no rows":
            raise DataError(f"{path}: no rows (the file is empty or holds only blank lines)") from None
        raise


def _undecoded(ds: datasets.Dataset) -> datasets.Dataset:
    """The same dataset with its image columns kept encoded (`{"path", "bytes"}` per image, no pixels)."""
    for name, feat in ds.features.items():
        if isinstance(feat, datasets.Image) and feat.decode:
            ds = ds.cast_column(name, datasets.Image(decode=False))
        elif (
            isinstance(feat, (datasets.Sequence, datasets.List, datasets.LargeList))
            and isinstance(feat.feature, datasets.Image)
            and feat.feature.decode
        ):
            ds = ds.cast_column(name, type(feat)(datasets.Image(decode=False)))
    return ds


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(@[\w.-]+)?")
_FILE_BUILDERS = {".json": "json", ".parquet": "parquet", ".arrow": "arrow", ".csv": "csv"}


def is_hub_dataset_id(ref: str) -> bool:
    """`org/name` or EasyR1's `org/name@split`, and not a data file's name (`data/x.jsonl` is a missing
    file)."""
    return bool(_HUB_ID.fullmatch(ref)) and Path(ref).suffix not in (".jsonl", *_FILE_BUILDERS)


def open_dataset(
    ref: str | Path, split: str = "train", config_name: str | None = None, revision: str | None = None
) -> tuple[datasets.Dataset, Path]:
    """A stage data source other than JSONL as a `datasets` Dataset (memory-mapped Arrow), and the folder
    image paths in it are relative to: a `save_to_disk` folder (Dataset or DatasetDict), a
    JSON/parquet/arrow/CSV file, a folder `datasets.load_dataset` reads (parquet, arrow, JSON, imagefolder),
    or a hub dataset id (`org/name`, or EasyR1's `org/name@split`). Errors name the source."""
    path = Path(ref).expanduser()
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        try:
            ds = datasets.load_from_disk(str(path))
        except IndexError as e:  # what `datasets` raises for a saved dataset of no rows
            raise DataError(f"{path}: no rows (the saved dataset is empty)") from e
        except (OSError, ValueError, TypeError) as e:  # missing or corrupt arrow files and the like
            raise DataError(f"{path}: cannot load the saved dataset ({type(e).__name__}: {e})") from e
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(
                    f"{path}: no split {split!r} in the saved DatasetDict (splits: {', '.join(ds)}); "
                    "set data.split"
                )
            ds = ds[split]
        return ds, path
    if path.is_file():
        builder = _FILE_BUILDERS.get(path.suffix)
        if builder is None:
            raise DataError(f"{path}: not a data file stagewise reads (JSONL, JSON, parquet, arrow, CSV)")
        return _load(builder, str(path), data_files=str(path), split="train"), path.parent
    if path.is_dir():
        return _load(str(path), str(path), split=split, name=config_name), path
    if is_hub_dataset_id(str(ref)):
        repo, _, at = str(ref).partition("@")
        return _load(repo, str(ref), split=at or split, name=config_name, revision=revision), Path.cwd()
    raise DataError(f"{ref}: data not found (neither a file, a folder, nor a hub dataset id org/name)")


def _load(path: str, shown: str, **kwargs) -> datasets.Dataset:
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return datasets.load_dataset(path, **kwargs)
    except (
        FileNotFoundError,
        ValueError,
    ) as e:  # DatasetNotFoundError is a FileNotFoundError; bad split: ValueError
        raise DataError(f"{shown}: cannot load the dataset ({type(e).__name__}: {e})") from e
    except (OSError, ConnectionError) as e:
        raise DataError(f"{shown}: cannot reach or read the dataset ({type(e).__name__}: {e})") from e


def load_rows(
    path: str | Path,
    limit: int | None = None,
    *,
    decode: bool = True,
    columns: dict[str, str] | None = None,
    image_dir: str | Path | None = None,
    split: str = "train",
    config_name: str | None = None,
    revision: str | None = None,
    cache_dir: Path | None = None,
) -> list[dict]:
    """Raw rows (problem, answer, images, ...) from any stage data source (see `open_dataset`; JSONL is read
    line by line). `decode=False` keeps images encoded (`{"path", "bytes"}`, decoded only when a batch needs
    them); embedded images over INLINE_BYTES then go to files in `cache_dir`. An image column in any layout
    `datasets` knows (paths, bytes, `Image`, lists of them; named `images` or `image`, or mapped with
    `columns`) is read; one that cannot be read is an error, never a text-only row."""
    image_dir = Path(image_dir).expanduser() if image_dir else None
    if Path(path).suffix == ".jsonl":
        return read_jsonl_rows(
            path, columns=columns, image_dir=image_dir, cache_dir=cache_dir, decode=decode, limit=limit
        )
    ds, base = open_dataset(path, split, config_name, revision)
    if len(ds) == 0:
        raise DataError(f"{path}: no rows (the dataset is empty)")
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    ds = _undecoded(ds)
    records = ((f"{path} row {i + 1}", i + 1, r) for i, r in enumerate(ds))
    return _rows(
        records,
        Path(str(path).split("@")[0]).stem,
        base,
        columns=columns,
        image_dir=image_dir,
        cache_dir=cache_dir,
        decode=decode,
        limit=None,
        unit="row",
    )


def to_trl_rows(
    rows: list[dict], instruction: str | None = "think_boxed", with_completion: bool = False, source: str = ""
) -> list[dict]:
    """TRL rows from `load_rows` rows; a row without a usable problem or answer (null, NaN, empty) or with an
    answer kind the reward does not know raises DataError naming it and the field."""
    out = []
    for i, r in enumerate(rows):
        _check_fields(r, f"{source or 'data'}: row {i + 1}" + (f" (id {r['id']!r})" if r.get("id") else ""))
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


def _varying_field(rows: list[dict]) -> str | None:
    """The first field whose type differs between rows, as 'field ...: row i has T, row j has U'."""
    first: dict[str, tuple[int, type]] = {}
    for i, r in enumerate(rows, start=1):
        for key, value in r.items():
            if value is None:
                continue
            j, t = first.setdefault(key, (i, type(value)))
            if t is not type(value):
                return f"field {key!r}: row {j} has {t.__name__}, row {i} has {type(value).__name__}"
    return None


def to_dataset(rows: list[dict]) -> datasets.Dataset:
    """A Dataset with an `images` list column; text-only rows carry an empty list. No rows is a DataError."""
    if not rows:
        raise DataError("no rows to train on")
    try:
        ds = datasets.Dataset.from_list(rows)
    except (TypeError, ValueError, IndexError) as e:  # pyarrow's ArrowInvalid / ArrowTypeError, or datasets'
        raise DataError(
            f"rows do not fit one table: {_varying_field(rows) or f'{type(e).__name__}: {e}'}"
        ) from e
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    return ds
