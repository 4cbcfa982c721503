"""Atomic writes leave no temporary file and read like any other file; appends close a torn last line; a full
disk is one clear DiskFullError that leaves no torn file."""

import errno
import json
import os
import pickle
import shutil
import subprocess

import pytest

from stagewise import utils
from stagewise.utils import DiskFullError, append_jsonl, atomic_write_json, atomic_write_text, disk_full_guard


def test_atomic_write_leaves_a_normally_readable_file_and_no_temporary(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "x.txt").read_text() == "hello"
    assert (tmp_path / "a" / "x.txt").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"]


def test_append_after_a_torn_line_spoils_only_that_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": 1}\n{"id": 2, "resp')  # killed mid-write
    append_jsonl(path, [{"id": 3}])
    good = []
    for line in path.read_text().splitlines():
        try:
            good.append(json.loads(line)["id"])
        except json.JSONDecodeError:
            pass
    assert good == [1, 3]


# ------------------------------------------------------------------------------------- full disk, simulated
class _FillsUp:
    """A file that takes `room` characters, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, text):
        if len(text) > self.room:
            self.f.write(text[: self.room])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.f.write(text)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_atomic_write_on_a_full_disk_is_one_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"old": 1})
    real_fdopen = os.fdopen
    monkeypatch.setattr(utils.os, "fdopen", lambda fd, mode: _FillsUp(real_fdopen(fd, mode), 5))
    with pytest.raises(DiskFullError) as info:
        atomic_write_json(target, {"new": list(range(100))})
    assert str(info.value) == f"no space left on device writing {target}"
    assert (
        isinstance(info.value, OSError)
        and info.value.errno == errno.ENOSPC
        and info.value.path == str(target)
    )
    assert isinstance(info.value.__cause__, OSError)
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # the temporary file is gone


def test_other_write_errors_pass_through_unchanged(tmp_path, monkeypatch):
    def denied(fd, mode):
        os.close(fd)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(utils.os, "fdopen", denied)
    with pytest.raises(PermissionError):
        atomic_write_text(tmp_path / "x.txt", "hello")
    assert list(tmp_path.iterdir()) == []


def test_append_on_a_full_disk_cuts_the_file_back_to_what_it_held(tmp_path, monkeypatch):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": 1}\n')
    real_open = open
    monkeypatch.setattr(
        utils,
        "open",
        lambda p, mode="r", *a, **k: (
            _FillsUp(real_open(p, mode, *a, **k), 7) if "a" in mode else real_open(p, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(DiskFullError, match=f"no space left on device writing {path}$"):
        append_jsonl(path, [{"id": 2}, {"id": 3}])
    assert path.read_text() == '{"id": 1}\n'  # the half-written row is gone
    new = tmp_path / "new.jsonl"
    with pytest.raises(DiskFullError):
        append_jsonl(new, [{"id": 2}])
    assert not new.exists()


def test_the_guard_names_the_path_and_removes_a_torn_file(tmp_path, monkeypatch):
    ckpt = tmp_path / "optimizer.pt"
    with pytest.raises(DiskFullError, match=f"^no space left on device writing {ckpt} "):
        with disk_full_guard(ckpt):
            ckpt.write_bytes(b"half")
            raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert not ckpt.exists()
    # torch.save's own words for a full disk say nothing about space: they count only when the disk is full
    vague = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with disk_full_guard(tmp_path):
            raise vague
    monkeypatch.setattr(utils, "_free_bytes", lambda path: 4096)
    with pytest.raises(DiskFullError, match=f"writing {tmp_path} "):
        with disk_full_guard(tmp_path):
            raise vague
    assert tmp_path.is_dir()  # a folder is left alone
    with pytest.raises(ValueError, match="not a disk problem"):
        with disk_full_guard(tmp_path):
            raise ValueError("not a disk problem")


def test_disk_full_error_survives_pickling():
    e = pickle.loads(pickle.dumps(DiskFullError("/x/y", "detail")))
    assert str(e) == "no space left on device writing /x/y (detail)" and e.errno == errno.ENOSPC


# ------------------------------------------------------------------------------ full disk, for real (root)
@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount rights; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_really_full_disk(tiny_disk):
    import torch
    from safetensors.torch import save_file

    small = tiny_disk / "results.json"
    atomic_write_json(small, {"old": 1})
    with pytest.raises(DiskFullError, match=f"^no space left on device writing {small}$"):
        atomic_write_text(small, "x" * 200_000)
    assert json.loads(small.read_text()) == {"old": 1}
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["results.json"]

    log = tiny_disk / "log.jsonl"
    append_jsonl(log, [{"id": 0}])
    with pytest.raises(DiskFullError, match=f"writing {log}$"):
        append_jsonl(log, [{"id": i, "pad": "x" * 1000} for i in range(200)])
    assert log.read_text() == '{"id": 0}\n'

    big = {"w": torch.zeros(100_000)}  # 400 KB
    for name, save in [("model.pt", torch.save), ("model.safetensors", lambda obj, p: save_file(obj, p))]:
        target = tiny_disk / name
        with pytest.raises(DiskFullError, match=f"^no space left on device writing {target} "):
            with disk_full_guard(target):
                save(big, target)
        assert not target.exists()
    assert shutil.disk_usage(tiny_disk).free > 32 << 10  # nothing torn left taking the space
