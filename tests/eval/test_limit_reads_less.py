"""`--limit N` reaches the reader of every benchmark whose rows need no filtering first, so a hub split is
streamed for N rows instead of downloaded whole."""

import importlib

import pytest

SIMPLE = ["aokvqa", "mathvision", "mathvista", "mmstar", "realworldqa", "logicvista"]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("name", SIMPLE)
def test_limit_is_passed_to_the_reader(name, monkeypatch):
    module = importlib.import_module(f"stagewise.eval.benchmarks.{name}")
    seen = {}

    def read_records(source, split=None, limit=None, **kw):
        seen["limit"] = limit
        raise _Stop

    monkeypatch.setattr(module, "read_records", read_records)
    with pytest.raises(_Stop):
        module.load("org/hub-id", limit=7)
    assert seen["limit"] == 7
