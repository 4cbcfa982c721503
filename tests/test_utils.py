"""Atomic writes leave no temporary file and read like any other file; appends close a torn last line."""

import json
import os

from stagewise.utils import append_jsonl, atomic_write_text


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
