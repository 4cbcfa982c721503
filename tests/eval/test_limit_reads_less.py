"""`--limit N` reaches the reader of every benchmark whose rows need no filtering first, so a hub split is
streamed for N rows instead of downloaded whole."""

import importlib

import pytest

SIMPLE = ["aokvqa", "mathvision", "mathvista", "mmstar", "realworldqa", "logicvista", "wemath"]


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


@pytest.mark.parametrize(
    "name, field, subset, other",
    [
        ("pope", "category", "adversarial", "random"),
        ("mathverse", "problem_version", "Vision Only", "Text Dominant"),
    ],
)
def test_limit_with_a_subset_streams_only_until_n_rows_of_it(name, field, subset, other, monkeypatch):
    import datasets

    module = importlib.import_module(f"stagewise.eval.benchmarks.{name}")
    base = {
        "question": "Is there a cat?",
        "answer": "yes",
        "question_id": 0,
        "sample_index": 0,
        "question_type": "free-form",
        "query_cot": "q",
    }
    rows = [{**base, field: other, "question_id": i, "sample_index": i} for i in range(50)]
    rows += [{**base, field: subset, "question_id": 100 + i, "sample_index": 100 + i} for i in range(50)]
    stream = _Stream(rows)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: stream)
    got = module.load("org/hub-id", limit=3, subset=subset)
    assert (
        len(got) == 3 and stream.read == 53
    )  # 50 of the other subset skipped, then 3 taken; the rest unread


def _hub(monkeypatch, splits: dict[str, list[dict]]) -> dict[str, _Stream]:
    """A hub dataset of these splits, streamed; the streams opened, by split."""
    import datasets

    opened = {}

    def load_dataset(repo, config=None, split=None, streaming=False, **kw):
        assert streaming, "a --limit run must stream, not download the split"
        opened[split] = _Stream(splits[split])
        return opened[split]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return opened


def _hallusion(i: int, visual: str) -> dict:
    return {
        "category": "VD",
        "subcategory": "chart",
        "set_id": i,
        "figure_id": 1,
        "question_id": 0,
        "gt_answer": "1",
        "question": "Is it?",
        "visual_input": visual,
    }


def test_hallusionbench_limit_streams_n_rows_and_the_second_split_only_for_what_is_missing(monkeypatch):
    from stagewise.eval.benchmarks import hallusionbench

    splits = {
        "image": [_hallusion(i, "1") for i in range(40)],
        "non_image": [_hallusion(100 + i, "0") for i in range(40)],
    }
    opened = _hub(monkeypatch, splits)
    assert len(hallusionbench.load("org/hub-id", limit=5)) == 5
    assert opened["image"].read == 5 and "non_image" not in opened
    splits["image"] = splits["image"][:3]
    opened = _hub(monkeypatch, splits)
    rows = hallusionbench.load("org/hub-id", limit=5)
    assert [r["visual_input"] for r in rows] == ["1"] * 3 + ["0"] * 2 and opened["non_image"].read == 2


def test_dynamath_limit_streams_n_seeds_of_every_variant(monkeypatch):
    from stagewise.eval.benchmarks import dynamath

    seed = {"question": "What is x?", "ground_truth": "3", "answer_type": "float"}
    opened = _hub(monkeypatch, {v: [{**seed, "id": i} for i in range(30)] for v in dynamath.VARIANTS})
    rows = dynamath.load("org/hub-id", limit=2)
    assert len(rows) == 2 * len(dynamath.VARIANTS) and {r["qid"] for r in rows} == {"0", "1"}
    assert {v: s.read for v, s in opened.items()} == dict.fromkeys(dynamath.VARIANTS, 2)
