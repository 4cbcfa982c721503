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


class _Stream:
    """A streamed hub split that counts the rows read from it."""

    def __init__(self, rows):
        self.rows, self.read = rows, 0

    def decode(self, flag):
        return self

    def __iter__(self):
        for r in self.rows:
            self.read += 1
            yield r


@pytest.mark.parametrize("name, field, subset, other", [
    ("pope", "category", "adversarial", "random"),
    ("mathverse", "problem_version", "Vision Only", "Text Dominant"),
])
def test_limit_with_a_subset_streams_only_until_n_rows_of_it(name, field, subset, other, monkeypatch):
    import datasets

    module = importlib.import_module(f"stagewise.eval.benchmarks.{name}")
    base = {"question": "Is there a cat?", "answer": "yes", "question_id": 0, "sample_index": 0,
            "question_type": "free-form", "query_cot": "q"}
    rows = [{**base, field: other, "question_id": i, "sample_index": i} for i in range(50)]
    rows += [{**base, field: subset, "question_id": 100 + i, "sample_index": 100 + i} for i in range(50)]
    stream = _Stream(rows)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: stream)
    got = module.load("org/hub-id", limit=3, subset=subset)
    assert len(got) == 3 and stream.read == 53  # 50 of the other subset skipped, then 3 taken; the rest unread
