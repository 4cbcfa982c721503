"""The paper's released stage data, fetched and laid out so that `recipes/paper/*.yaml` run as written.

    stagewise data pull paper --out data/paper

For each stage's hub dataset (UCSC-VLAA/VLM-CapCurriculum-{Perception,TextReasoning,VisualReasoning}-Data)
this downloads the snapshot (huggingface_hub; resumable), unpacks the image archives shipped beside the rows
(tar/tar.gz/zip, once each, refusing paths that leave the folder), reads the rows with stagewise's own data
loader (the perception formatter's `prompt`/`image_path` columns mapped; image paths found under the snapshot
or the unpacked archives) and writes `<out>/<stage>.jsonl` in stagewise's schema with image paths relative to
it:

    <out>/perception.jsonl  textual.jsonl  visual.jsonl   what the presets' `data.paths` name
    <out>/raw/<stage>/                                     the snapshot, archives unpacked in place
    <out>/pull.json                                        repo, revision, rows and images per stage
"""

from __future__ import annotations

import json
import logging
import tarfile
import zipfile
from pathlib import Path

from stagewise.data.sources import DataError, load_rows
from stagewise.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

PAPER_DATA = {
    "perception": "UCSC-VLAA/VLM-CapCurriculum-Perception-Data",
    "textual": "UCSC-VLAA/VLM-CapCurriculum-TextReasoning-Data",
    "visual": "UCSC-VLAA/VLM-CapCurriculum-VisualReasoning-Data",
}
"""Stage -> the hub dataset the paper released for it."""

# The paper's perception formatter (data_pipeline/format_for_training.py) writes EasyR1 rows with these keys
# (EasyR1 `data.prompt_key=prompt`, `data.image_key=image_path`); the reasoning data uses EasyR1's defaults.
_ALIASES = {
    "problem": ("problem", "prompt", "question"),
    "images": ("images", "image_path", "image"),
    "id": ("id", "example_id"),
}
_DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


def download(repo: str, folder: Path, revision: str | None) -> str:
    """The dataset's snapshot in `folder` (files already there are not fetched again); returns its
    revision."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        snapshot_download(repo_id=repo, repo_type="dataset", revision=revision, local_dir=str(folder))
    except (RepositoryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
        raise DataError(
            f"{repo}: cannot download the dataset ({type(e).__name__}: {str(e).splitlines()[0]})"
        ) from e
    return revision or "main"


def unpack_archives(folder: Path) -> list[Path]:
    """Unpack every image archive under `folder` next to itself, once (a `.unpacked` marker records it)."""
    done = []
    for archive in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(_ARCHIVES)):
        marker = archive.with_name(archive.name + ".unpacked")
        if marker.exists():
            continue
        log.info("unpacking %s", archive)
        try:
            if archive.name.endswith(".zip"):
                with zipfile.ZipFile(archive) as z:
                    for name in z.namelist():
                        _inside(archive.parent, name, archive)
                    z.extractall(archive.parent)
            else:
                with tarfile.open(archive) as t:
                    t.extractall(archive.parent, filter="data")  # refuses absolute paths, `..` and links out
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise DataError(
                f"{archive}: cannot unpack the image archive ({type(e).__name__}: {e}); delete it and "
                "pull again"
            ) from e
        marker.touch()
        done.append(archive)
    return done


def _inside(root: Path, name: str, archive: Path) -> None:
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DataError(f"{archive}: member {name!r} would be written outside {root}")


def rows_file(folder: Path, repo: str) -> Path:
    """The training rows of a snapshot: its one data file, else the one named for training."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in _DATA_SUFFIXES
        and ".cache" not in p.parts
        and not p.name.endswith(".resolved.jsonl")
    )
    if len(files) > 1:
        named = [p for p in files if "train" in p.name or "curriculum" in p.name]
        named = [p for p in named if not any(w in p.name for w in ("test", "val"))] or named
        files = named if len(named) == 1 else files
    if len(files) != 1:
        listed = ", ".join(str(p.relative_to(folder)) for p in files) or "none"
        raise DataError(
            f"{repo}: expected one training data file (JSONL, JSON or parquet) in {folder}, found: {listed}"
        )
    return files[0]


def _columns(first: dict) -> dict[str, str]:
    cols = {}
    for fld, names in _ALIASES.items():
        found = next((n for n in names if n in first), None)
        if found is not None and found != fld:
            cols[fld] = found
    return cols


def _image_index(folder: Path) -> dict[str, Path]:
    """Every image under the snapshot by its path relative to the snapshot and by its bare name, so that rows
    written against EasyR1's `image_dir` find their images wherever the archive put its top folder."""
    index: dict[str, Path] = {}
    for p in folder.rglob("*"):
        if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file():
            index.setdefault(p.name, p)
            index.setdefault(p.relative_to(folder).as_posix(), p)
    return index


def convert(stage: str, src: Path, raw_dir: Path, out_dir: Path) -> dict:
    """`src` rows -> `<out_dir>/<stage>.jsonl` in stagewise's schema, images relative to `out_dir`."""
    first_line = (
        next((ln for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()), "{}")
        if src.suffix == ".jsonl"
        else "{}"
    )
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = {}
    if src.suffix != ".jsonl":
        import datasets

        first = dict(
            datasets.load_dataset(
                src.suffix.lstrip(".").replace("jsonl", "json"), data_files=str(src), split="train[:1]"
            )[0]
        )
    columns = _columns(first)
    index = _image_index(raw_dir)
    image_key = columns.get("images", "images")
    if src.suffix == ".jsonl" and image_key in first:
        # resolve each row's image names against the snapshot before the loader checks them
        fixed = src.with_name(src.stem + ".resolved.jsonl")
        lines = []
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            value = row.get(image_key)
            names = value if isinstance(value, list) else ([value] if value else [])
            paths = []
            for name in names:
                hit = index.get(str(name).lstrip("./")) or index.get(Path(str(name)).name)
                if hit is None:
                    raise DataError(
                        f"{src}:{n}: field {image_key!r}: image {name!r} is in neither the dataset nor "
                        f"its unpacked archives under {raw_dir}"
                    )
                paths.append(str(hit.resolve()))
            row[image_key] = paths
            lines.append(json.dumps(row, ensure_ascii=False))
        atomic_write_text(fixed, "\n".join(lines) + "\n")
        src = fixed
    rows = load_rows(src, decode=False, columns=columns or None, cache_dir=out_dir / "images")
    out = []
    for r in rows:
        images = [
            Path(i["path"]).resolve().relative_to(out_dir.resolve()).as_posix() if i["path"] else None
            for i in r["images"]
        ]
        if None in images:
            raise DataError(f"{src}: row {r['id']!r} holds an image stagewise could not place in a file")
        row = {
            "id": r["id"],
            "problem": r["problem"],
            "answer": r["answer"],
            "images": images,
            "source": stage,
        }
        for key in ("pass_rate", "solution", "caption", "answer_kind"):
            if r.get(key) is not None:
                row[key] = r[key]
        out.append(row)
    atomic_write_text(
        out_dir / f"{stage}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    )
    return {
        "rows": len(out),
        "images": sum(len(r["images"]) for r in out),
        "from": str(src.relative_to(out_dir)),
        "columns": columns,
    }


def pull_paper(out_dir: Path, revision: str | None = None, stages: list[str] | None = None) -> dict:
    """Download, unpack and convert the paper's data for `stages` (default: all three) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for stage in stages or list(PAPER_DATA):
        if stage not in PAPER_DATA:
            raise DataError(f"no paper data for stage {stage!r} (stages: {', '.join(PAPER_DATA)})")
        repo, raw = PAPER_DATA[stage], out_dir / "raw" / stage
        log.info("%s: %s -> %s", stage, repo, raw)
        rev = download(repo, raw, revision)
        unpack_archives(raw)
        report[stage] = {"repo": repo, "revision": rev, **convert(stage, rows_file(raw, repo), raw, out_dir)}
        log.info(
            "%s: %d rows, %d images -> %s",
            stage,
            report[stage]["rows"],
            report[stage]["images"],
            out_dir / f"{stage}.jsonl",
        )
    atomic_write_json(out_dir / "pull.json", report)
    return report
