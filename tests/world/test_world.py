import json
import random
import re

import pytest

from stagewise.rewards import extract_answer, format_ok, grade
from stagewise.world.build import build_splits, build_world
from stagewise.world.caption import dense_caption, summary
from stagewise.world.render import render
from stagewise.world.scene import Difficulty, Scene, random_shapes_scene
from stagewise.world.tasks import FAMILIES, WorldConfig, generate, misperceive


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_is_deterministic_by_seed(family):
    a = generate(family, 30, seed=7)
    b = generate(family, 30, seed=7)
    c = generate(family, 30, seed=8)
    assert [(i.question, i.answer, i.trace) for i in a] == [(i.question, i.answer, i.trace) for i in b]
    assert [i.question for i in a] != [i.question for i in c]
    assert render(a[0].scene).tobytes() == render(b[0].scene).tobytes()


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_traces_are_well_formed_and_verify(family):
    for item in generate(family, 200, seed=1):
        assert format_ok(item.trace), item.trace
        assert extract_answer(item.trace) == item.answer
        assert grade(extract_answer(item.trace), item.answer, item.answer_kind)
        if family != "textual":
            assert item.trace.startswith("<think>I see ")
        if family == "textual":
            assert "I see" not in item.trace  # nothing is seen in a text-only problem


def test_perception_items_are_four_option_mcqs_with_the_right_letter():
    for item in generate("perception", 200, seed=2):
        assert sorted(item.options) == ["A", "B", "C", "D"]
        assert len(set(item.options.values())) == 4
        assert item.answer in item.options
        assert f"{item.answer}. {item.options[item.answer]}" in item.question


def test_perception_traces_look_the_seen_value_up_in_the_options():
    for item in generate("perception", 100, seed=6):
        listing = ", ".join(f"{v} is {k}" for k, v in item.options.items())
        assert f"Options: {listing}. {item.options[item.answer]} is {item.answer}." in item.trace


def test_scan_option_trace_checks_options_up_to_the_answer():
    for item in generate("perception", 100, seed=6, cfg=WorldConfig(option_trace="scan")):
        for key in "ABCD"[: "ABCD".index(item.answer) + 1]:
            verdict = "yes" if key == item.answer else "no"
            assert f"{key} is {item.options[key]}, {verdict}." in item.trace
    plain = generate("perception", 20, seed=6, cfg=WorldConfig(option_trace="none"))
    assert not any("Options:" in i.trace or ", yes." in i.trace for i in plain)
    with pytest.raises(ValueError, match="option_trace must be"):
        generate("perception", 1, seed=6, cfg=WorldConfig(option_trace="guess"))


def test_count_questions_match_the_scene_graph():
    checked = 0
    for item in generate("perception", 300, seed=3):
        if item.kind != "count":
            continue
        value = int(item.options[item.answer])
        what = item.question.removeprefix("How many ").removesuffix(" are there?").split("\n")[0]
        what = what.removesuffix(" are there?")
        words = what.split()
        colour = words[0] if words[0] in ("red", "green", "blue", "yellow") else None
        kind = words[-1].removesuffix("s") if words[-1] != "shapes" else None
        assert item.scene.count(colour=colour, kind=kind) == value
        checked += 1
    assert checked > 20


def test_reasoning_answers_recompute_from_the_scene():
    for item in generate("visual", 300, seed=4):
        if item.kind == "more":
            a, b = item.question.removeprefix("How many more ").removesuffix(" are there?").split(" than ")
            n = item.scene.count(kind=a[:-1]) - item.scene.count(kind=b[:-1])
            assert str(n) == item.answer
        if item.kind == "labels":
            assert str(sum(s.label for s in item.scene.shapes if s.label is not None)) == item.answer


def test_every_question_kind_appears():
    kinds = {f: {i.kind for i in generate(f, 400, seed=5)} for f in FAMILIES}
    assert kinds["perception"] >= {"count", "colour", "position", "relation", "size", "label", "bar_value"}
    assert kinds["visual"] >= {"more", "either", "points", "labels", "bar_sum", "bar_diff"}


def test_difficulty_knob_controls_objects_and_steps():
    rng = random.Random(0)
    few = [len(random_shapes_scene(rng, Difficulty(min_objects=2, max_objects=2)).shapes) for _ in range(20)]
    many = [len(random_shapes_scene(rng, Difficulty(min_objects=8, max_objects=8)).shapes) for _ in range(20)]
    assert set(few) == {2} and set(many) == {8}
    easy = generate("textual", 200, 0, WorldConfig(difficulty=Difficulty(steps=1)))
    hard = generate("textual", 200, 0, WorldConfig(difficulty=Difficulty(steps=3)))
    assert max(i.difficulty for i in easy) < max(i.difficulty for i in hard)


def test_recheck_steps_change_trace_length():
    never = generate("visual", 100, 0, WorldConfig(recheck_prob=0.0))
    always = generate("visual", 100, 0, WorldConfig(recheck_prob=1.0))
    assert not any("Check:" in i.trace for i in never)
    assert all("Check:" in i.trace for i in always)


def test_inventory_option_opens_visual_traces_with_the_whole_scene():
    for item in generate("visual", 50, 0, WorldConfig(inventory_in_trace=True)):
        assert item.trace.startswith("<think>" + summary(item.scene))


def test_caption_names_every_shape():
    scene = random_shapes_scene(random.Random(3), Difficulty(min_objects=4, max_objects=4, label_prob=1.0))
    cap = dense_caption(scene)
    for s in scene.shapes:
        assert f"{s.size} {s.colour} {s.kind} with the digit {s.label}" in cap
    assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene


def test_splits_never_share_items():
    splits = build_splits("perception", {"train": 300, "test": 100}, 0, WorldConfig())
    key = lambda i: i.question + json.dumps(i.scene.to_dict(), sort_keys=True)  # noqa: E731
    assert not {key(i) for i in splits["train"]} & {key(i) for i in splits["test"]}
    assert len(splits["train"]) == 300 and len(splits["test"]) == 100


def test_build_world_writes_hf_datasets_and_paper_jsonl(world_dir):
    import datasets

    ds = datasets.load_from_disk(str(world_dir / "visual" / "train"))
    assert len(ds) == 40 and ds[0]["image"].size == (112, 112)
    assert "image" not in datasets.load_from_disk(str(world_dir / "textual" / "test")).column_names
    rows = [json.loads(line) for line in (world_dir / "perception" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    for i, row in enumerate(rows):
        assert {"index", "problem", "answer", "images", "source"} <= set(row)
        assert row["index"] == i and row["problem"].startswith("<image>")
        assert (world_dir / "perception" / row["images"][0]).exists()
    text_rows = [json.loads(line) for line in (world_dir / "textual" / "test.jsonl").read_text().splitlines()]
    assert all(r["images"] == [] and "<image>" not in r["problem"] for r in text_rows)


def test_unknown_family_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown task family 'percepton'"):
        build_world(tmp_path, ["percepton"], {"train": 1})
    with pytest.raises(ValueError, match="unknown task family"):
        generate("nope", 1, 0)


def test_confusions_write_up_what_was_mis_seen_while_the_image_shows_the_truth():
    cfg = WorldConfig(confusions={"red": "blue"}, confusion_rate=1.0)
    items = generate("perception", 300, seed=0, cfg=cfg)
    confused = [it for it in items if it.image_scene is not None]
    assert confused, "some scenes hold red shapes"
    for it in confused:
        truth, seen = it.image_scene, it.scene
        assert [s.colour for s in seen.shapes] == [
            "blue" if s.colour == "red" else s.colour for s in truth.shapes
        ]
        assert not re.search(r"\bred\b", it.caption)  # (options may still offer red as a distractor)
        assert render(truth, 112).tobytes() != render(seen, 112).tobytes()
    # Colour questions about a (truly) red shape are answered "blue" in the write-up.
    for it in confused:
        if it.kind == "colour":
            assert it.options[it.answer] != "red"
    assert all(it.image_scene is None for it in generate("textual", 50, seed=0, cfg=cfg))
    # Without confusions nothing changes, and the same seed draws the same items.
    plain = generate("perception", 50, seed=0)
    assert all(it.image_scene is None for it in plain)
    assert [it.question for it in plain] == [it.question for it in generate("perception", 50, seed=0)]


def test_confusion_rate_is_per_shape():
    rng = random.Random(0)
    kept = turned = 0
    for _ in range(300):
        truth = random_shapes_scene(rng, Difficulty())
        seen = misperceive(truth, {"triangle": "square", "7": "1"}, 0.5, rng)
        for t, s in zip(truth.shapes, seen.shapes, strict=True):
            assert (s.colour, s.size, s.row, s.col) == (t.colour, t.size, t.row, t.col)
            assert s.kind == t.kind or (t.kind, s.kind) == ("triangle", "square")
            assert s.label == t.label or (t.label, s.label) == (7, 1)
            if t.kind == "triangle":
                kept += s.kind == "triangle"
                turned += s.kind == "square"
    assert 0.4 < turned / (kept + turned) < 0.6
    assert misperceive(truth, {"triangle": "square"}, 0.0, rng) == truth


def test_bad_confusion_is_an_error():
    with pytest.raises(ValueError, match="confusion 'red' -> 'circle'"):
        generate("perception", 1, 0, WorldConfig(confusions={"red": "circle"}))


def test_build_world_gives_a_split_its_own_config(tmp_path):
    import datasets

    cfg = WorldConfig(confusions={"red": "blue"}, confusion_rate=1.0)
    out = build_world(
        tmp_path, ["perception"], {"train": 60, "warmstart": 60}, seed=0, split_cfgs={"warmstart": cfg}
    )
    scenes = {
        split: [json.loads(r["scene"]) for r in datasets.load_from_disk(str(out / "perception" / split))]
        for split in ("train", "warmstart")
    }
    colours = {split: {s["colour"] for sc in v for s in sc["shapes"]} for split, v in scenes.items()}
    assert "red" in colours["train"] and "red" not in colours["warmstart"]
    assert "split_configs" in json.loads((out / "world.json").read_text())


def test_a_mis_seen_row_keeps_what_its_image_shows_and_describe_rows_use_it(tmp_path):
    from stagewise.data.sft_rows import describe_rows
    from stagewise.data.sources import load_rows

    cfg = WorldConfig(confusions={"red": "blue"}, confusion_rate=1.0)
    out = build_world(
        tmp_path, ["perception"], {"train": 40, "warmstart": 40}, seed=0, split_cfgs={"warmstart": cfg}
    )
    rows = {split: load_rows(out / "perception" / split) for split in ("train", "warmstart")}
    assert all(r["image_scene"] == "" for r in rows["train"])  # nothing mis-seen: the scene is the image
    mis_seen = [r for r in rows["warmstart"] if r["image_scene"]]
    assert mis_seen and all("red" in r["image_scene"] and "red" not in r["scene"] for r in mis_seen)
    described = " ".join(d["completion"][0]["content"][0]["text"] for d in describe_rows(mis_seen))
    assert (
        len(describe_rows(mis_seen)) == len(mis_seen) and "red" in described
    )  # the inventory says what the image shows, not what the annotator wrote
