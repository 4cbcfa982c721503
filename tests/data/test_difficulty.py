"""Pass rates over k samples: right counts, cached per item, resumable; the CLI writes a pass_rate column."""

import json

import datasets
import pytest
import torch

import stagewise.data.difficulty as difficulty
from stagewise.cli import main
from stagewise.data.difficulty import easy_to_hard, estimate_pass_rates, keep, read_cache
from stagewise.data.sources import load_rows, to_trl_rows
from stagewise.models.load import load_model_and_processor


@pytest.fixture(scope="module")
def model_and_processor(tiny_model_dir):
    return load_model_and_processor(tiny_model_dir, dtype=torch.float32)


def test_pass_rate_is_the_share_of_samples_graded_right(
    monkeypatch, tmp_path, world_dir, model_and_processor
):
    rows = to_trl_rows(load_rows(world_dir / "textual" / "test", limit=3), instruction=None)
    answers = {r["prompt"][0]["content"]: r["answer"] for r in rows}
    calls = []

    def scripted(model, processor, batch, **kw):  # sample j of an item is right for j < index of the item
        calls.append((len(batch), kw["do_sample"], kw["temperature"], kw["top_p"]))
        out, seen = [], {}
        for r in batch:
            q = r["prompt"][0]["content"]
            j = seen[q] = seen.get(q, -1) + 1
            idx = [x["prompt"][0]["content"] for x in rows].index(q)
            out.append(
                {
                    "response": f"<think>x</think> \\boxed{{{answers[q] if j < idx else 'nope'}}}",
                    "response_tokens": 3,
                    "truncated": False,
                }
            )
        return out

    monkeypatch.setattr(difficulty, "generate", scripted)
    model, processor = model_and_processor
    cache = tmp_path / "cache.jsonl"
    rates = estimate_pass_rates(model, processor, rows, cache, model_name="m", k=4, batch_size=8)
    assert [rates[r["id"]] for r in rows] == [0.0, 0.25, 0.5]
    assert calls[0] == (8, True, 0.7, 0.9)  # 2 prompts x k=4 samples per batch, the paper's sampling settings
    assert (
        read_cache(cache, {"model": "m", "k": 4, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 128})
        == rates
    )

    calls.clear()
    assert estimate_pass_rates(model, processor, rows, cache, model_name="m", k=4, batch_size=8) == rates
    assert calls == []  # everything cached: nothing generated again
    estimate_pass_rates(model, processor, rows, cache, model_name="m", k=2, batch_size=8)
    assert calls  # other settings are another cache entry


def test_a_killed_estimation_resumes_with_the_missing_items_only(
    monkeypatch, tmp_path, world_dir, model_and_processor
):
    rows = to_trl_rows(load_rows(world_dir / "perception" / "test", limit=4), instruction=None)
    model, processor = model_and_processor
    cache = tmp_path / "cache.jsonl"
    estimate_pass_rates(
        model, processor, rows[:2], cache, model_name="m", k=2, max_new_tokens=4, batch_size=2
    )
    cache.write_text(cache.read_text() + '{"id": "torn')  # a kill in the middle of a line
    seen = []
    real = difficulty.generate

    def counting(model, processor, batch, **kw):
        seen.extend(r["id"] for r in batch)
        return real(model, processor, batch, **kw)

    monkeypatch.setattr(difficulty, "generate", counting)
    rates = estimate_pass_rates(
        model, processor, rows, cache, model_name="m", k=2, max_new_tokens=4, batch_size=2
    )
    assert set(seen) == {r["id"] for r in rows[2:]}
    assert set(rates) == {r["id"] for r in rows} and all(0 <= v <= 1 for v in rates.values())
    assert len([ln for ln in cache.read_text().splitlines() if ln.startswith('{"id": "test')]) == 4


def test_duplicate_ids_are_refused(tmp_path, world_dir, model_and_processor):
    rows = to_trl_rows(load_rows(world_dir / "visual" / "test", limit=1), instruction=None) * 2
    with pytest.raises(ValueError, match="duplicate item ids"):
        estimate_pass_rates(*model_and_processor, rows, tmp_path / "c.jsonl", model_name="m", k=1)


def test_ordering_and_filters():
    rows = [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]
    rates = {"a": 0.25, "b": 1.0, "c": 0.25, "d": 0.0}
    assert [r["id"] for r in easy_to_hard(rows, rates)] == ["b", "a", "c", "d"]
    assert [keep(rates[r["id"]], True, True) for r in rows] == [True, False, True, False]
    assert all(keep(x, False, False) for x in rates.values())


def test_cli_writes_a_pass_rate_column_for_jsonl_and_dataset_folders(tmp_path, world_dir, tiny_model_dir):
    out = tmp_path / "scored.jsonl"
    args = ["--model", str(tiny_model_dir), "--k", "2", "--max-new-tokens", "4", "--limit", "3"]
    assert (
        main(["data", "difficulty", str(world_dir / "visual" / "test.jsonl"), "--out", str(out), *args]) == 0
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 3 and all(x["pass_rate"] in (0.0, 0.5, 1.0) for x in lines)
    assert all(p.startswith("/") for x in lines for p in x["images"])  # still point at the images
    assert len(load_rows(out)) == 3  # and load as stage data
    folder = tmp_path / "scored"
    assert main(["data", "difficulty", str(world_dir / "textual" / "test"), "--out", str(folder), *args]) == 0
    ds = datasets.load_from_disk(str(folder))
    assert len(ds) == 3 and "pass_rate" in ds.column_names
    assert (tmp_path / "scored.cache.jsonl").exists()
