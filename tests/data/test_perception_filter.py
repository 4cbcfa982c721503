"""The perception-sensitive filter: the paper's keep rule, extraction, several models, k samples, the
report."""

import json

import pytest
from PIL import Image

from stagewise.data.perception.filter import (
    FilterConfig,
    FilterModel,
    boxed_letter,
    filter_letter,
    model_from_spec,
    read_items,
    run_filter,
)
from stagewise.endpoint import EndpointConfig


@pytest.mark.parametrize(
    "text, letter",
    [
        ("answer: C", "C"),
        ("Answer:(b) because", "B"),
        ("I think B. answer: D", "D"),
        ("B) the red one", "B"),
        ("A red one", "A"),
        ("Definitely", None),
        ("", None),
        (None, None),
        ("I see", None),
        ("answer is C", "C"),
    ],
)
def test_filter_letter(text, letter):
    assert filter_letter(text) == letter


def test_boxed_extraction_for_thinking_models():
    trace = "<think>I see 3. Options: 3 is C, 2 is A. 3 is C.</think> \\boxed{C}"
    assert boxed_letter(trace) == "C" and filter_letter(trace) == "C"
    assert (
        filter_letter("<think>Options: 2 is A, 3 is C</think> \\boxed{C}") == "A"
    )  # the paper's rule reads A
    assert boxed_letter("<think>I see 3 red") is None


# item id -> {model: (image reply, caption reply)}; gold is A for every item.
PLAN = {
    "keep": {"m1": ("answer: B", "answer: A"), "m2": ("answer: C", "answer: A")},
    "img_right": {"m1": ("answer: A", "answer: A"), "m2": ("answer: B", "answer: A")},
    "img_empty": {"m1": ("no idea", "answer: A"), "m2": ("answer: B", "answer: A")},
    "cap_wrong": {"m1": ("answer: B", "answer: C"), "m2": ("answer: B", "answer: A")},
    "one_model": {"m1": ("answer: B", "answer: A"), "m2": ("answer: A", "answer: A")},
    "fallback": {"m1": ("The answer is D", "answer: a"), "m2": ("D", "A")},
    "failed": {"m1": ("answer: B", "answer: A"), "m2": None},
}


def items(tmp_path, ids):
    Image.new("RGB", (28, 28), "red").save(tmp_path / "x.png")
    kinds = {"keep": "spatial", "fallback": "spatial"}
    return [
        {
            "id": i,
            "image": str(tmp_path / "x.png"),
            "caption": f"caption of {i}",
            "question": f"About {i}?",
            "options": {"A": "one", "B": "two", "C": "three", "D": "four"},
            "answer": "A",
            "kind": kinds.get(i, "detail"),
            "source": "t",
        }
        for i in ids
    ]


def plan_server(chat_server, plan):
    return chat_server(_script(plan))


def endpoint_models(url, names):
    return [
        FilterModel(
            n, endpoint=EndpointConfig(base_url=url, model=n, concurrency=3, max_retries=0, timeout_s=5)
        )
        for n in names
    ]


def test_keep_rule_every_model_wrong_from_image_right_from_caption(tmp_path, chat_server):
    server = plan_server(chat_server, PLAN)
    cfg = FilterConfig(models=endpoint_models(server.url, ["m1", "m2"]))
    report = run_filter(items(tmp_path, PLAN), tmp_path / "f", cfg)
    kept = [r["id"] for r in read_items(tmp_path / "f" / "kept.jsonl")]
    assert kept == ["keep", "fallback"]
    assert report["items"] == 7 and report["kept"] == 2 and report["failed"] == 1
    assert report["failed_ids"] == [{"id": "failed", "reasons": ["m2: http_500"]}]
    # m1 alone keeps keep, one_model, fallback and failed (4 of 7); m2 answered 6 and rejects only one_model.
    assert report["per_model"]["m1"]["keep_rate"] == round(4 / 7, 4)
    assert report["per_model"]["m2"]["n"] == 6 and report["per_model"]["m2"]["keep_rate"] == round(5 / 6, 4)
    assert report["per_model"]["m1"]["image_empty_rate"] == round(1 / 7, 4)
    assert report["per_kind"]["spatial"] == {
        "n": 2,
        "kept": 2,
        "keep_rate": 1.0,
        "keep_rate_per_model": {"m1": 1.0, "m2": 1.0},
    }
    assert report["per_kind"]["detail"]["kept"] == 0
    assert "| m1 | 7 |" in (tmp_path / "f" / "filter_report.md").read_text()
    # Every request: one with the image, one with the caption and no image, at most 8 new tokens, greedy.
    bodies = [r["body"] for r in server.requests]
    assert {b["max_tokens"] for b in bodies} == {8} and {b["temperature"] for b in bodies} == {0.0}
    cap_texts = [r["text"] for r in server.requests if not r["image"]]
    assert cap_texts and all("caption of" in t for t in cap_texts)
    assert not any("caption of" in r["text"] for r in server.requests if r["image"])

    # A rerun asks again only the failed (model, item) pair.
    n = len(server.requests)
    PLAN_FIXED = {**PLAN, "failed": {"m1": ("answer: B", "answer: A"), "m2": ("answer: D", "answer: A")}}
    server.script = _script(PLAN_FIXED)
    report = run_filter(items(tmp_path, PLAN), tmp_path / "f", cfg)
    assert len(server.requests) - n == 2 and all("About failed?" in r["text"] for r in server.requests[n:])
    assert report["kept"] == 3 and report["failed"] == 0


def _script(plan):
    def script(text, body):
        item = next(i for i in plan if f"About {i}?" in text)
        replies = plan[item][body["model"]]
        if replies is None:
            return (500, "")
        has_image = not isinstance(body["messages"][0]["content"], str)
        return (200, replies[0] if has_image else replies[1])

    return script


def test_k_samples_use_pass_rate_thresholds(tmp_path, chat_server):
    def script(text, body):
        has_image = not isinstance(body["messages"][0]["content"], str)
        return (200, ["answer: B", "answer: A", "answer: C"] if has_image else ["A", "A", "B"])

    server = chat_server(script)
    its = items(tmp_path, ["x"])
    strict = FilterConfig(models=endpoint_models(server.url, ["m"]), samples=3)
    assert run_filter(its, tmp_path / "strict", strict)["kept"] == 0
    loose = FilterConfig(
        models=endpoint_models(server.url, ["m"]), samples=3, min_image_wrong=0.6, min_caption_right=0.6
    )
    report = run_filter(its, tmp_path / "loose", loose)
    assert report["kept"] == 1 and report["per_model"]["m"]["image_wrong_rate"] == round(2 / 3, 4)
    assert {r["body"]["n"] for r in server.requests} == {3} and {
        r["body"]["temperature"] for r in server.requests
    } == {1.0}


def test_local_model_filter_and_cache(tmp_path, tiny_model_dir):
    its = items(tmp_path, ["a", "b", "c"])
    cfg = FilterConfig(models=[FilterModel("tiny", path=str(tiny_model_dir))], batch_size=2)
    report = run_filter(its, tmp_path / "f", cfg)
    assert report["per_model"]["tiny"]["n"] == 3 and report["runs"][0]["asked"] == 3
    rows = [json.loads(x) for x in (tmp_path / "f" / "filter_items.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"] and all(
        len(r["filter"]["tiny"]["image"]) == 1 for r in rows
    )
    assert run_filter(its, tmp_path / "f", cfg)["runs"] == []  # all cached: the model is not even loaded
    # The rule is decided from cached replies: zero thresholds keep everything without asking the model again.
    everything = FilterConfig(models=cfg.models, min_image_wrong=0.0, min_caption_right=0.0)
    report = run_filter(its, tmp_path / "f", everything)
    assert report["kept"] == 3 and report["runs"] == []
    from stagewise.data.perception.cache import CacheMismatch

    with pytest.raises(CacheMismatch, match="other settings"):  # other answers need asking again elsewhere
        run_filter(its, tmp_path / "f", FilterConfig(models=cfg.models, max_new_tokens=16))


def test_model_specs():
    assert model_from_spec("/m/base").path == "/m/base" and model_from_spec("/m/base").name == "base"
    assert model_from_spec("big=Qwen/Qwen2.5-VL-7B-Instruct").name == "big"
    m = model_from_spec("qwen-vl@http://127.0.0.1:8000/v1", concurrency=2)
    assert m.endpoint.model == "qwen-vl" and m.endpoint.base_url == "http://127.0.0.1:8000/v1"
    assert m.endpoint.concurrency == 2 and not m.path


def test_local_model_k_samples(tmp_path, tiny_model_dir):
    its = items(tmp_path, ["a", "b"])
    cfg = FilterConfig(models=[FilterModel("tiny", path=str(tiny_model_dir))], samples=3, batch_size=2)
    run_filter(its, tmp_path / "f", cfg)
    rows = [json.loads(x) for x in (tmp_path / "f" / "filter_items.jsonl").read_text().splitlines()]
    assert all(
        len(r["filter"]["tiny"]["image"]) == 3 and len(r["filter"]["tiny"]["caption"]) == 3 for r in rows
    )
