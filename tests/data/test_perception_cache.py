"""The per-item cache: last line wins, torn lines are redone, other settings are refused."""

import json

import pytest

from stagewise.data.perception.cache import CacheMismatch, ItemCache


def test_torn_line_is_redone_and_the_next_line_stays_whole(tmp_path):
    path = tmp_path / "c.jsonl"
    with ItemCache(path, {"v": 1}) as c:
        c.add([{"key": "a", "ok": True}, {"key": "b", "ok": False}])
    with path.open("a") as f:
        f.write('{"key": "c", "ok": tr')  # killed mid-write
    c = ItemCache(path, {"v": 1})
    assert c.done("a") and not c.done("b") and not c.done("c")
    with c:
        c.add([{"key": "b", "ok": True}, {"key": "c", "ok": True}])
    c = ItemCache(path, {"v": 1})
    assert all(c.done(k) for k in "abc")
    assert json.loads(path.read_text().splitlines()[-1]) == {"key": "c", "ok": True}


def test_other_settings_are_refused_unless_fresh(tmp_path):
    path = tmp_path / "c.jsonl"
    with ItemCache(path, {"v": 1}) as c:
        c.add([{"key": "a", "ok": True}])
    with pytest.raises(CacheMismatch, match="other settings"):
        ItemCache(path, {"v": 2})
    assert not ItemCache(path, {"v": 2}, fresh=True).done("a")


def test_an_edited_caption_is_written_again(tmp_path, world_dir):
    from stagewise.data.perception import sources
    from stagewise.data.perception.writer import write_mcq

    records = sources.world(world_dir, families=("perception",))[:5]
    assert write_mcq(records, tmp_path / "o")["run"]["attempted"] == 5
    records[2] = {**records[2], "caption": records[2]["caption"] + " Edited."}
    report = write_mcq(records, tmp_path / "o")
    assert report["run"]["attempted"] == 1 and report["written"] == 5
    items = [json.loads(x) for x in (tmp_path / "o" / "mcq.jsonl").read_text().splitlines()]
    assert items[2]["caption"].endswith("Edited.")
