"""The perception data engine inside a run: the warm start's own split and caption-QA rows, and a perception
stage that trains on what the filter kept."""

import json
import re

import pytest

from stagewise.cli import main
from stagewise.config import load_recipe
from stagewise.data.perception.filter import filter_letter
from stagewise.data.sft_rows import approx_length, caption_qa_rows
from stagewise.data.sources import load_rows
from stagewise.rewards import extract_answer, extract_choice
from stagewise.train.pipeline import build_data
from stagewise.train.plan import perception_set_train
from stagewise.world.build import build_world
from stagewise.world.tasks import FAMILIES, WorldConfig


def test_caption_qa_rows_teach_the_filters_two_prompts(world_dir):
    raw = load_rows(world_dir / "perception" / "train", limit=12)
    rows = caption_qa_rows(raw)
    img = [r for r in rows if r["images"]]
    cap = [r for r in rows if not r["images"]]
    assert len(img) == len(cap) >= 10  # one question per image, asked twice (a scene may carry none)
    captions = {r["id"]: r["caption"] for r in raw}
    for a, b in zip(img, cap, strict=True):
        assert a["answer"] == b["answer"] and a["answer"] in "ABCD"
        text = a["completion"][0]["content"][0]["text"]
        assert extract_choice(extract_answer(text)) == a["answer"]  # what training and the boxed filter read
        assert filter_letter(text) == a["answer"]  # ... and the paper's short extraction too
        assert 'in the form "answer: X"' in a["prompt"][0]["content"]
        item_id = a["id"].removeprefix("mcq-image-")
        assert b["id"] == f"mcq-caption-{item_id}"
        assert captions[item_id].strip() in b["prompt"][0]["content"]
        assert captions[item_id].strip() not in a["prompt"][0]["content"]
    assert approx_length(cap[0]) > approx_length(img[0])  # captions make the long rows the sampler groups


def test_world_style_caption_qa_rows_answer_with_a_trace(world_dir):
    raw = load_rows(world_dir / "perception" / "train", limit=12)
    rows = caption_qa_rows(raw, "world")
    cap = [r for r in rows if not r["images"]]
    assert len(cap) == len(rows) // 2 >= 10
    for r in rows:
        text = r["completion"][0]["content"][0]["text"]
        assert text.startswith("<think>I see ") and extract_choice(extract_answer(text)) == r["answer"]
    assert rows != caption_qa_rows(raw)  # the default style asks other questions


def test_the_warm_start_split_shares_no_item_and_leaves_train_and_test_unchanged(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(f"""
name: ws
output_dir: {tmp_path / "runs"}
world: {{train_size: 10, test_size: 4}}
model: {{source: tiny, warmstart: {{size: 6}}}}
stages: [{{name: p, data: {{families: [perception], size: 4}}}}]
eval: {{size: 4}}
""")
    data = build_data(load_recipe(recipe_file))
    plain = build_world(
        tmp_path / "plain", list(FAMILIES), {"train": 10, "test": 4}, seed=0, cfg=WorldConfig()
    )
    for fam in FAMILIES:
        ids = {s: [r["id"] for r in load_rows(data / fam / s)] for s in ("train", "test", "warmstart")}
        assert len(ids["warmstart"]) == 6
        assert not set(ids["warmstart"]) & (set(ids["train"]) | set(ids["test"]))
        assert ids["train"] == [r["id"] for r in load_rows(plain / fam / "train")]
        assert [r["problem"] for r in load_rows(data / fam / "train")] == [
            r["problem"] for r in load_rows(plain / fam / "train")
        ]


def test_a_pretrained_model_warm_started_on_the_world_gets_the_mis_seeing_split_too(tmp_path):
    # A local model folder (a pretrained stand-in for a hub checkpoint) warm-started by a mis-seeing
    # annotator: the warm start has its own split, written up with the confusions, while train and test stay
    # true.
    (tmp_path / "pretrained").mkdir()
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(f"""
name: ws
output_dir: {tmp_path / "runs"}
world: {{train_size: 30, test_size: 4}}
model: {{source: {tmp_path / "pretrained"}, \
warmstart: {{size: 30, confusions: {{red: blue}}, confusion_rate: 1.0}}}}
stages: [{{name: p, data: {{families: [perception], size: 4}}}}]
eval: {{size: 4}}
""")
    data = build_data(load_recipe(recipe_file))
    rows = {s: load_rows(data / "perception" / s) for s in ("train", "warmstart")}
    assert len(rows["warmstart"]) == 30
    assert any(r["image_scene"] for r in rows["warmstart"])  # written up otherwise than the image shows
    assert not any(r.get("image_scene") for r in rows["train"])
    red_shape = re.compile(r"I see [^.]*\bred\b")  # what was seen, not the options listed after it
    assert not any(red_shape.search(r["solution"]) for r in rows["warmstart"])
    assert any(red_shape.search(r["solution"]) for r in rows["train"])


# The micro recipe with one perception stage, on what the filter kept (thresholds 0: everything).
PERCEPTION_STAGE = {
    "world.test_size": 4,
    "model.warmstart.caption_qa": 8,
    "perception_set": {
        "families": ["perception", "visual"],
        "min_image_wrong": 0,
        "min_caption_right": 0,
        "batch_size": 8,
    },
    "stages": [
        {
            "name": "perception",
            "capability": "perception",
            "data": {"perception_set": True, "size": 100, "instruction": None},
            "trainer": {"steps": 1, "prompts_per_step": 2, "group_size": 2, "max_completion_length": 8},
        }
    ],
    "variants": {"staged": {}, "caption_sft": {"kind": "caption_sft"}},
    "eval": {"families": ["perception"], "size": 2, "batch_size": 2, "max_new_tokens": 8},
}


@pytest.mark.slow
def test_the_perception_stage_trains_on_the_filtered_engine_output(tmp_path, micro_recipe):
    recipe = micro_recipe(tmp_path / "runs", PERCEPTION_STAGE)
    assert main(["run", str(recipe)]) == 0
    run = tmp_path / "runs" / "micro"
    data = run / "data"
    done = json.loads((data / "perception_set" / "done.json").read_text())
    assert done["written"] >= 28 and done["kept"] == done["written"]  # thresholds 0: everything is kept
    kept = load_rows(perception_set_train(data))
    assert 0 < len(kept) < done["kept"]  # the train split of the hash split
    report = json.loads((data / "perception_set" / "filter" / "filter_report.json").read_text())
    assert len(report["per_model"]) == 1 and report["kept"] == done["kept"]
    manifest = json.loads((run / "staged" / "seed0" / "perception" / "manifest.json").read_text())
    assert manifest["train_items"] == len(kept)
    assert set(manifest["plan"]["first_ids"]) <= {r["id"] for r in kept}
    base = json.loads((run / "base" / "manifest.json").read_text())
    assert base["train_items"] == 3 * 8 + 2 * 2 * 8  # traces of 3 families + 2 caption-QA rows per image
    # the caption-SFT arm captions the same images the perception stage would have trained on
    sft = json.loads((run / "caption_sft" / "seed0" / "caption_sft" / "manifest.json").read_text())
    assert sft["train_items"] == len(kept)


def test_warm_start_batches_keep_long_rows_together_and_mix_the_rest():
    from collections import Counter

    from stagewise.data.sft_rows import arrange_order

    def arrange_batches(rows, **kw):
        return [rows[i] for i in arrange_order([approx_length(r) for r in rows], **kw)]

    def row(i, n, fam):
        return {"id": i, "family": fam, "prompt": [{"role": "user", "content": "x" * n}], "images": []}

    rows = [row(f"s{i}", 40, "ab"[i % 2]) for i in range(100)] + [
        row(f"l{i}", 600, "long") for i in range(20)
    ]
    order = arrange_batches(rows, batch_size=4, steps=90, seed=0)
    assert len(order) == 360
    batches = [order[i : i + 4] for i in range(0, 360, 4)]
    for b in batches:
        kinds = {r["family"] == "long" for r in b}
        assert len(kinds) == 1  # a long row never pads a batch of short ones
    assert any({r["family"] for r in b} == {"a", "b"} for b in batches)  # short batches mix tasks
    first_epoch = order[:120]
    assert max(Counter(r["id"] for r in first_epoch).values()) == 1
    assert [r["id"] for r in order[:120]] != [r["id"] for r in order[120:240]]  # reshuffled every epoch
    few_long = rows[:100] + rows[100:102]  # fewer long rows than a batch: no batch of their own
    assert len(arrange_batches(few_long, batch_size=4, steps=10, seed=0)) == 40
