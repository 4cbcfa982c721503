import json

import torch

from stagewise.data.sources import load_rows, to_trl_rows
from stagewise.eval.backends import TransformersBackend
from stagewise.eval.benchmarks import world
from stagewise.eval.benchmarks.world import summarize
from stagewise.eval.harness import EvalSettings, score_response, think_text
from stagewise.eval.world_eval import evaluate
from stagewise.models.load import load_model_and_processor, load_processor


def test_think_text():
    assert think_text("<think>a b</think> \\boxed{1}") == "a b"
    assert think_text("<think>never closed") == "never closed"
    assert think_text("\\boxed{1}") == ""


def test_world_scoring_uses_the_shared_verifier(tiny_model_dir):
    backend = TransformersBackend(None, load_processor(tiny_model_dir))
    row = {"id": "x", "family": "visual", "kind": "more", "answer": "3", "answer_kind": "number"}
    good = score_response(world, row, "<think>I see 3.</think> \\boxed{3}", EvalSettings())
    bad = score_response(world, row, "\\boxed{4}", EvalSettings())
    unboxed = score_response(world, row, "3", EvalSettings())  # the verifier needs a box, tag or phrase
    assert good["correct"] and good["family"] == "visual" and good["extracted"] == "3"
    assert not bad["correct"] and not unboxed["correct"] and unboxed["extracted"] is None
    assert backend.count_tokens(think_text("<think>I see 3.</think> \\boxed{3}")) > 0
    assert backend.count_tokens(think_text("\\boxed{4}")) == 0


def test_summarize_breaks_down_by_family_and_kind():
    items = [
        {
            "family": "a",
            "kind": "k1",
            "correct": True,
            "format_ok": True,
            "response_tokens": 10,
            "think_tokens": 6,
            "truncated": False,
        },
        {
            "family": "a",
            "kind": "k2",
            "correct": False,
            "format_ok": True,
            "response_tokens": 20,
            "think_tokens": 8,
            "truncated": True,
        },
        {
            "family": "b",
            "kind": "k1",
            "correct": True,
            "format_ok": False,
            "response_tokens": 30,
            "think_tokens": 0,
            "truncated": False,
        },
    ]
    s = summarize(items)
    assert s["families"]["a"]["accuracy"] == 0.5 and s["families"]["b"]["accuracy"] == 1.0
    assert abs(s["overall"]["accuracy"] - 2 / 3) < 1e-9
    assert s["overall"]["mean_response_tokens"] == 20 and s["kinds"]["a/k2"]["truncation_rate"] == 1.0


def test_summary_shows_answers_collapsing_onto_one_letter():
    gold = ["A", "B", "C", "D", "A", "B", "C", "D"]
    collapsed = [
        {"family": "p", "kind": "position", "correct": g == "A", "answer": g, "extracted": "A"} for g in gold
    ]
    s = summarize(collapsed)["kinds"]["p/position"]
    assert (s["top_answer"], s["top_answer_share"], s["gold_top_share"]) == ("A", 1.0, 0.25)
    spread = [dict(it, extracted=it["answer"], correct=True) for it in collapsed]
    assert summarize(spread)["kinds"]["p/position"]["top_answer_share"] == 0.25


def test_evaluate_writes_items_and_resumes_after_a_torn_line(tiny_model_dir, world_dir, tmp_path):
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    tests = {
        f: to_trl_rows(load_rows(world_dir / f / "test", limit=4), instruction=None, source=f)
        for f in ("perception", "textual")
    }
    out = tmp_path / "ev"
    first = evaluate(model, processor, tests, out, batch_size=3, max_new_tokens=6)
    lines = (out / "items.jsonl").read_text().splitlines()
    assert len(lines) == 8 and first["overall"]["n"] == 8
    assert {json.loads(x)["family"] for x in lines} == {"perception", "textual"}
    # Simulate a kill mid-write: drop two items and tear the last line.
    (out / "items.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:10])
    (out / "summary.json").unlink()
    again = evaluate(model, processor, tests, out, batch_size=3, max_new_tokens=6)
    rows = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert again["overall"]["n"] == 8
