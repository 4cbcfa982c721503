"""Trace styles, the unsure annotator's second looks and the perception-kind filter (world.tasks)."""

import json
import random
from collections import Counter

import pytest

from stagewise.rewards import extract_answer
from stagewise.world.tasks import FAMILIES, PERCEPTION_KINDS, WorldConfig, _style, generate

STYLES = {"direct": 0.4, "inventory": 0.2, "recheck": 0.2, "options": 0.2}


def _words(item) -> int:
    return len(item.trace.split())


def test_styles_are_drawn_in_the_recipes_proportions():
    cfg = WorldConfig(trace_styles=STYLES)
    rng = random.Random(0)
    drawn = Counter(_style(rng, cfg, with_options=True, item_id=f"p{i}") for i in range(4000))
    for style, share in STYLES.items():
        assert abs(drawn[style] / 4000 - share) < 0.03, drawn
    reasoning = Counter(_style(rng, cfg, with_options=False, item_id=f"v{i}") for i in range(4000))
    assert "options" not in reasoning and abs(reasoning["direct"] / 4000 - 0.5) < 0.03


@pytest.mark.parametrize("family", ["perception", "visual"])
def test_styles_differ_in_length_and_never_in_the_answer(family):
    lengths = {}
    for style in ("direct", "inventory", "recheck", "options"):
        if family != "perception" and style == "options":
            continue
        items = generate(family, 150, seed=5, cfg=WorldConfig(trace_styles={style: 1.0}, option_trace="none"))
        lengths[style] = sum(map(_words, items)) / len(items)
        for it in items:  # what the answer is never depends on the style: the reward reads the boxed answer
            assert extract_answer(it.trace) == it.answer
    assert lengths["direct"] < lengths["recheck"] and lengths["direct"] < lengths["inventory"], lengths
    if family == "perception":
        assert lengths["direct"] < lengths["options"], lengths


@pytest.mark.parametrize("family", FAMILIES)
def test_styles_and_second_looks_change_the_traces_only(family):
    """Same seed, any styles or none, second looks or none: the same items (questions, answers, scenes), so a
    recipe's trace settings never change its test set."""

    def items(**kw):
        return [
            (x.id, x.question, x.answer, x.scene)
            for x in generate(family, 120, seed=2, cfg=WorldConfig(**kw))
        ]

    legacy = items()
    assert items(trace_styles={"direct": 1.0}) == legacy
    assert items(trace_styles=STYLES) == legacy
    confused = {"confusions": {"red": "blue"}}
    assert items(**confused, hedge_rate=1.0, trace_styles=STYLES) == items(**confused)
    a = generate(family, 60, seed=2, cfg=WorldConfig(trace_styles={"direct": 1.0}, option_trace="none"))
    b = generate(family, 60, seed=2, cfg=WorldConfig(trace_styles={"recheck": 1.0}, option_trace="none"))
    assert all(x.trace != y.trace for x, y in zip(a, b, strict=True))


def test_the_annotator_looks_again_only_where_it_mis_saw_something_that_matters():
    cfg = WorldConfig(
        confusions={"red": "blue"}, confusion_rate=0.6, hedge_rate=1.0, options="fixed", option_trace="none"
    )
    for family in ("perception", "visual"):
        items = generate(family, 600, seed=3, cfg=cfg)
        hedged = [it for it in items if "Let me look again." in it.trace]
        assert hedged, family
        for it in hedged:  # a second look only where the image shows something else than was written up
            assert it.image_scene is not None
        # ... and not on every mis-seen image: a mis-seen shape the question does not ask about is no doubt
        misseen = [it for it in items if it.image_scene is not None]
        assert len(hedged) < len(misseen)
    assert not any("look again" in it.trace for it in generate("textual", 300, seed=3, cfg=cfg))
    honest = generate("perception", 300, seed=3, cfg=WorldConfig(hedge_rate=1.0))
    assert not any("look again" in it.trace for it in honest)


def test_hedged_items_are_the_ones_a_true_look_would_answer_otherwise():
    """Regenerating each hedged perception item from its true scene gives another answer."""
    cfg = WorldConfig(
        confusions={"red": "blue"},
        confusion_rate=1.0,
        hedge_rate=1.0,
        options="fixed",
        option_trace="none",
        perception_kinds=["colour"],
    )
    items = generate("perception", 300, seed=4, cfg=cfg)
    hedged = [it for it in items if "look again" in it.trace]
    assert hedged
    for it in hedged:
        shape = it.question.removeprefix("What colour is the ").split("?")[0]
        true_colour = next(s.colour for s in it.image_scene.shapes if s.kind == shape)
        assert it.options[it.answer] != true_colour
    for it in items:
        if "look again" not in it.trace and it.image_scene is not None:
            shape = it.question.removeprefix("What colour is the ").split("?")[0]
            true_colour = next(s.colour for s in it.image_scene.shapes if s.kind == shape)
            assert it.options[it.answer] == true_colour


def test_perception_kinds_leaves_the_others_out():
    kinds = ["count", "colour", "relation", "size", "bar_value", "bar_max"]
    items = generate("perception", 400, seed=1, cfg=WorldConfig(perception_kinds=kinds))
    assert {it.kind for it in items} == set(kinds)
    everything = generate("perception", 400, seed=1, cfg=WorldConfig())
    assert {"position", "label"} <= {it.kind for it in everything}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trace_styles", {"terse": 1.0}, "unknown: terse"),
        ("trace_styles", {"direct": 0.0}, "not all 0"),
        ("perception_kinds", ["colour", "shade"], "unknown shade"),
        ("hedge_rate", 1.5, "hedge_rate"),
    ],
)
def test_bad_settings_say_which(field, value, message):
    with pytest.raises(ValueError, match=message):
        generate(FAMILIES[0], 1, seed=0, cfg=WorldConfig(**{field: value}))


def test_recipe_rejects_bad_styles_before_any_work(tmp_path):
    from stagewise.config import RecipeError, load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nworld: {trace_styles: {terse: 1}}\nstages: [{name: s, data: {families: [visual]}}]\n"
    )
    with pytest.raises(RecipeError, match=r"r.yaml: world.trace_styles .*unknown: terse"):
        load_recipe(path)
    path.write_text(
        "name: r\nworld: {perception_kinds: [shade]}\nstages: [{name: s, data: {families: [visual]}}]\n"
    )
    with pytest.raises(RecipeError, match=r"world.perception_kinds: unknown shade"):
        load_recipe(path)
    assert set(PERCEPTION_KINDS) >= {"position", "label"}


def test_the_data_engine_and_the_warm_start_ask_only_the_recipes_perception_kinds():
    """`world.perception_kinds` reaches the data engine's `world` questions and the warm start's caption-QA
    rows, so a kind left out of the test set is not trained on either."""
    from stagewise.data.perception.offline import NoQuestion, write_from_scene
    from stagewise.data.perception.writer import WriterConfig, _spec

    kinds = ["count", "colour", "relation", "size", "bar_value", "bar_max"]
    scenes = [it.scene for it in generate("perception", 200, seed=6, cfg=WorldConfig())]

    def asked(only=()):
        out = set()
        for i, scene in enumerate(scenes):
            try:
                out.add(json.loads(write_from_scene(f"s{i}", scene, "world", only))["kind"])
            except NoQuestion:  # a scene none of the kinds fits
                continue
        return out

    assert asked(kinds) <= set(kinds) and {"position", "label"} <= asked()
    assert "kinds" not in _spec(WriterConfig(style="world"))  # caches written before the setting stay valid
    assert _spec(WriterConfig(style="world", kinds=kinds))["kinds"] == kinds
