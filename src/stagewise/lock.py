"""One writer per run folder: an OS lock (`flock`) on `<folder>/.lock`, released by the kernel when the holder
exits or is killed, so a stale lock cannot outlive its process. Two writers into one folder would each do all
the work and append every eval item twice (twice the n, intervals sqrt(2) too narrow)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class FolderLocked(RuntimeError):
    """Another process is writing into this folder."""


def _holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        h = {}
    if not h.get("pid"):
        return "another process"
    return (
        f"pid {h['pid']} on {h.get('host', '?')} (`stagewise {h.get('command', '?')}`, "
        f"since {h.get('since', '?')})"
    )


def run_folder_of(path: str | Path) -> Path:
    """The run folder a path lies in (the nearest folder above holding a `recipe.yaml` or a `.lock`), else the
    path itself: what `stagewise eval --out` locks."""
    path = Path(path).absolute()
    for folder in [path, *path.parents]:
        if (folder / "recipe.yaml").exists() or (folder / ".lock").exists():
            return folder
    return path


@contextmanager
def folder_lock(folder: str | Path, command: str, wait: bool = False, name: str = ".lock"):
    """Hold the folder's lock for the block; raise FolderLocked at once if another process holds it (or wait
    for it with `wait`). `name`: machines of a multi-node run share the folder and lock one file each."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                raise FolderLocked(
                    f"{folder} is being written by {holder}; a run folder has one writer. Wait for "
                    "it to finish (or rerun with --wait), or stop it first"
                ) from None
            log.info("%s is being written by %s; waiting for it (--wait)", folder, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": command,
                    "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            ).encode(),
        )
        yield path
    finally:
        os.close(fd)  # the lock goes with the descriptor; the file stays (removing it would race a waiter)
