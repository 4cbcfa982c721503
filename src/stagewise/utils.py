"""Small helpers shared across the package.

Writes that run out of disk space raise `DiskFullError` ("no space left on device writing <path>") instead of
a bare `OSError`, a torch `RuntimeError` or a safetensors error, and leave no torn file behind:
`atomic_write_*` remove their temporary file and leave the target as it was, `append_jsonl` truncates the file
back to its size before the append. Code that writes through other libraries (checkpoints with `torch.save`,
`save_pretrained`, a TRL trainer's saves) wraps the call in `disk_full_guard(path)`::

    with disk_full_guard(out_dir):
        trainer.save_model(out_dir)
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Messages of full-disk failures from libraries that do not raise OSError: safetensors (Rust io::Error) and
# anything quoting the C library's strerror.
_FULL_MESSAGES = (
    "no space left on device",
    "os error 28",
    "storagefull",
    "disk quota exceeded",
    "os error 122",
)
# torch.save / PyTorchStreamWriter and C++ iostreams report a failed write without its cause ("[enforce fail
# at inline_container.cc:672] . unexpected pos 704 vs 598", "basic_ios::clear: iostream error",
# "PytorchStreamWriter failed writing file"); one of these counts as a full disk only when the disk is
# (almost) full afterwards.
_WRITE_FAILURES = (
    "inline_container.cc",
    "unexpected pos",
    "pytorchstreamwriter failed",
    "file write failed",
    "basic_ios::clear",
    "iostream error",
)
LOW_SPACE_BYTES = 64 << 20
"""Free bytes below which an unexplained write failure (see `is_disk_full`) is taken for a full disk."""


class DiskFullError(OSError):
    """No space (or quota) left on the device while writing `path`. Its errno is ENOSPC, so handlers of
    `OSError` still catch it; `str()` is the plain message."""

    def __init__(self, path: str | Path, detail: str = ""):
        self.path, self.detail = str(path), detail
        super().__init__(
            errno.ENOSPC, f"no space left on device writing {path}" + (f" ({detail})" if detail else "")
        )

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):  # pickles (e.g. across processes) with its own constructor
        return type(self), (self.path, self.detail)


def _free_bytes(path: Path) -> int | None:
    for p in (path, *path.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def is_disk_full(exc: BaseException, path: str | Path | None = None) -> bool:
    """Whether `exc` (or an exception it was raised from) is a write that failed for want of space: an OSError
    with errno ENOSPC/EDQUOT, a message quoting that error, or a torch/iostream write failure while the disk
    holding `path` has less than `LOW_SPACE_BYTES` free."""
    seen: set[int] = set()
    node: BaseException | None = exc
    vague = False
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, DiskFullError):
            return True
        if isinstance(node, OSError) and node.errno in _FULL_ERRNOS:
            return True
        text = str(node).lower()
        if any(m in text for m in _FULL_MESSAGES):
            return True
        vague = vague or any(m in text for m in _WRITE_FAILURES)
        node = node.__cause__ or node.__context__
    if vague and path is not None:
        free = _free_bytes(Path(path))
        return free is not None and free < LOW_SPACE_BYTES
    return False


@contextmanager
def disk_full_guard(path: str | Path) -> Iterator[None]:
    """Turn a full-disk failure of the writes inside the block into `DiskFullError` naming `path` (a file or a
    folder written into). A file at `path` that the failed block left behind is removed, as it is torn; a
    folder is left alone. Other errors pass through unchanged.

        with disk_full_guard(ckpt / "optimizer.pt"):
            torch.save(state, ckpt / "optimizer.pt")
    """
    path = Path(path)
    try:
        yield
    except DiskFullError:
        raise
    except Exception as e:
        if not is_disk_full(e, path):
            raise
        if path.is_file():
            path.unlink(missing_ok=True)
        raise DiskFullError(path, _detail(e)) from e


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return "" if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"[:200]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file. On a full disk:
    `DiskFullError`, no temporary file left and `path` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results should read like any other file
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and is_disk_full(e):
            raise DiskFullError(path, _detail(e)) from e
        raise


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def append_jsonl(path: str | Path, rows: list[dict]) -> None:
    """Append whole lines and flush, so an interrupted job keeps every finished row. A torn last line left by
    a kill is closed first, so it spoils only itself (readers skip lines that do not parse). On a full disk:
    `DiskFullError`, and the file is cut back to what it held before the call."""
    path = Path(path)
    torn = False
    size = path.stat().st_size if path.exists() else None
    if size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    text = ("\n" if torn else "") + "".join(json.dumps(r) + "\n" for r in rows)
    try:
        with open(path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if not is_disk_full(e):
            raise
        if size is None:
            path.unlink(missing_ok=True)
        else:
            os.truncate(path, size)
        raise DiskFullError(path, _detail(e)) from e


@contextmanager
def library_bars_off() -> Iterator[None]:
    """Progress bars of datasets, huggingface_hub and transformers off inside the block, restored after.

    For the blocks where stagewise draws its own bar (a rich `Progress` or a tqdm bar): a library bar
    redrawing the same terminal line garbles both. Everywhere else the libraries' bars stay on, so a 16 GB
    download or a long `save_to_disk` shows its progress."""
    import datasets
    import huggingface_hub.utils as hub_utils
    import transformers

    was = (
        datasets.is_progress_bar_enabled(),
        hub_utils.are_progress_bars_disabled(),
        transformers.utils.logging.is_progress_bar_enabled(),
    )
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # also the hub's
    try:
        yield
    finally:
        if was[0]:
            datasets.enable_progress_bars()
        if was[2]:
            transformers.utils.logging.enable_progress_bar()  # turns the hub's on too
        if was[1]:
            hub_utils.disable_progress_bars()
        elif not was[2]:
            hub_utils.enable_progress_bars()
