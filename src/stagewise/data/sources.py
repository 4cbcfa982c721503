"""Stage data: world families or files on disk -> the rows TRL trains on.

A TRL row is `{"prompt": [user message], "images": [PIL...] or [], "answer", "answer_kind", "id", "family",
"kind"}`; SFT rows add `"completion"`. TRL puts the image placeholders into the prompt itself from `images`.

Files are either HF datasets saved with `save_to_disk` (the world's format) or JSONL in the paper's schema
`{index, problem, answer, images, source}` with image paths relative to the file.
"""

from __future__ import annotations

import json
import logging
import math
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


# Kinds the reward knows (`stagewise.rewards.verify.is_correct`); a row with another kind would fail mid-training.
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
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip()):
            raise DataError(f"{where}: field {key!r} is {value!r} (expected a non-empty text or an integer)")
    for key in ("solution", "source", "family", "kind", "answer_kind"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise DataError(f"{where}: field {key!r} has type {type(raw[key]).__name__} (expected text)")
    if raw.get("answer_kind") and raw["answer_kind"] not in _KINDS:
        raise DataError(f"{where}: field 'answer_kind' is {raw['answer_kind']!r}; expected one of {', '.join(_KINDS)}")


def _checked_image(img_path: Path, where: str) -> Image.Image:
    """The image opened but not decoded, after the cheap checks: a file, a format PIL reads from its header, and
    within the pixel limit (PIL's `Image.MAX_IMAGE_PIXELS`, None for no limit; over it is an error here, where PIL
    itself only warns below twice the limit). A lazy loader can stop here (and `verify()`) and decode later."""
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
        raise DataError(f"{where}: image too large: {img_path} has {size.group(1) if size else 'too many'} pixels, "
                        f"over the limit of {Image.MAX_IMAGE_PIXELS} (PIL's Image.MAX_IMAGE_PIXELS)") from e
    except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
        raise DataError(f"{where}: not a readable image: {img_path} ({type(e).__name__}: {e})") from e
    limit, (w, h) = Image.MAX_IMAGE_PIXELS, im.size
    if limit is not None and w * h > limit:
        im.close()
        raise DataError(f"{where}: image too large: {img_path} is {w}x{h} = {w * h} pixels, over the limit of "
                        f"{limit} (PIL's Image.MAX_IMAGE_PIXELS)")
    return im


def _open_image(img_path: Path, where: str) -> Image.Image:
    """The image decoded to RGB; a truncated or corrupt one is a DataError, as is anything `_checked_image` finds."""
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
            raise DataError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                            f"{e.start + 1}); save the file as UTF-8") from e
        if text.strip():
            yield lineno, text, lineno == len(raw_lines) and not data.endswith(b"\n")


def read_jsonl_rows(path: str | Path) -> list[dict]:
    """Validated paper-schema rows, images opened; any problem raises DataError naming file, line and field.

    Ids (`id`, else `<file stem>-<index>`, else `<file stem>-<line - 1>`) must be unique: a repeated id is an
    error whether or not the rows agree, since rewards, logs and evaluation key on it; the message says when the
    answers differ. A file with no rows is an error."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    rows, seen = [], {}
    for lineno, line, cut in _lines(path):
        where = f"{path}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            hint = "; the last line looks cut short (a partly written file?)" if cut else ""
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno}){hint}") from e
        if not isinstance(raw, dict):
            raise DataError(f"{where}: row is not a JSON object")
        _check_fields(raw, where)
        images = raw.get("images", [])
        if images is None:
            images = []
        if not isinstance(images, list) or not all(isinstance(p, str) and p.strip() for p in images):
            raise DataError(f"{where}: field 'images' must be a list of paths")
        raw["answer"] = str(raw["answer"])
        given = raw.get("id") is not None
        made = "" if given else " (made from the file name and 'index'; give each row an 'id')"
        index = raw["index"] if raw.get("index") is not None else lineno - 1
        raw["id"] = str(raw["id"]) if given else f"{path.stem}-{index}"
        if raw["id"] in seen:
            first, answer = seen[raw["id"]]
            differ = (f" with a different answer ({answer!r} there, {raw['answer']!r} here)"
                      if answer != raw["answer"] else "")
            raise DataError(f"{where}: field 'id': {raw['id']!r}{made} is also the id of line {first}{differ}; "
                            "ids must be unique")
        seen[raw["id"]] = (lineno, raw["answer"])
        raw["images"] = [
            _open_image(Path(rel) if Path(rel).is_absolute() else path.parent / rel, f"{where}: field 'images'")
            for rel in images]
        rows.append(raw)
    if not rows:
        raise DataError(f"{path}: no rows (the file is empty or holds only blank lines)")
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
        try:
            ds = datasets.load_from_disk(str(path))
        except IndexError as e:  # what `datasets` raises for a saved dataset of no rows
            raise DataError(f"{path}: no rows (the saved dataset is empty)") from e
        except (OSError, ValueError, TypeError) as e:  # missing or corrupt arrow files and the like
            raise DataError(f"{path}: cannot load the saved dataset ({type(e).__name__}: {e})") from e
        if len(ds) == 0:
            raise DataError(f"{path}: no rows (the saved dataset is empty)")
        if limit is not None:
            ds = ds.select(range(min(limit, len(ds))))
        return _from_world_dataset(ds)
    if path.suffix == ".jsonl":
        rows = read_jsonl_rows(path)
        return rows[:limit] if limit is not None else rows
    raise DataError(f"{path}: not a JSONL file or a saved HF dataset folder")


def to_trl_rows(rows: list[dict], instruction: str | None = "think_boxed", with_completion: bool = False,
                source: str = "") -> list[dict]:
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
        raise DataError(f"rows do not fit one table: {_varying_field(rows) or f'{type(e).__name__}: {e}'}") from e
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    return ds
