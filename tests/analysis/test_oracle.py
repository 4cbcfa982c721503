"""The scene-graph oracle: each kind of observation checked true and false against a hand-made scene."""

import pytest

from stagewise.analysis.oracle import attribute, check_claim, claims
from stagewise.world.scene import Bar, Scene, Shape
from stagewise.world.tasks import WorldConfig, generate

SHAPES = Scene(
    "shapes",
    shapes=[
        Shape("circle", "red", "large", 0, 0, 3),
        Shape("circle", "red", "small", 0, 3),
        Shape("square", "blue", "small", 3, 1, 5),
    ],
)
CHART = Scene("chart", bars=[Bar("A", 2, "red"), Bar("B", 5, "red"), Bar("C", 1, "red")])


@pytest.mark.parametrize(
    ("claim", "scene", "truth"),
    [
        ("2 circles", SHAPES, True),
        ("3 circles", SHAPES, False),
        ("2 red shapes", SHAPES, True),
        ("1 red circle", SHAPES, False),
        ("1 blue square", SHAPES, True),
        ("a blue square", SHAPES, True),
        ("a green square", SHAPES, False),
        ("a large red circle", SHAPES, True),
        ("the blue square at the bottom left", SHAPES, True),
        ("the blue square at the top left", SHAPES, False),
        ("the blue square lowest down", SHAPES, True),
        ("the blue square highest up", SHAPES, False),
        ("5 on the blue square", SHAPES, True),
        ("4 on the blue square", SHAPES, False),
        ("the numbers 3 and 5", SHAPES, True),
        ("the numbers 3, 5 and 5", SHAPES, False),
        ("bar B at 5", CHART, True),
        ("bar B at 4", CHART, False),
        ("bar D at 1", CHART, False),
        ("bar B tallest", CHART, True),
        ("bar A tallest", CHART, False),
    ],
)
def test_each_claim_kind_is_checked_against_the_scene(claim, scene, truth):
    assert check_claim(claim, scene)[0] is truth


def test_observations_split_into_claims_and_unknown_text_is_not_judged():
    assert claims("2 red circles, 1 blue square and 3 green triangles") == [
        "2 red circles",
        "1 blue square",
        "3 green triangles",
    ]
    assert claims("the numbers 3, 4 and 5") == ["the numbers 3, 4 and 5"]
    assert claims("a bar chart with bar A at 2 and bar B at 5") == ["bar A at 2", "bar B at 5"]
    assert check_claim("a purple elephant", SHAPES) == (None, "")


def test_attribution_first_false_observation_means_perception():
    wrong_count = "<think>I see 3 circles and 1 square. 3 - 1 = 2.</think> \\boxed{2}"
    out = attribute(wrong_count, SHAPES)
    assert out["label"] == "perception" and "said '3 circles' but 2 drawn" in out["evidence"]
    right_seen = "<think>I see 2 circles and 1 square. 2 - 1 = 3.</think> \\boxed{3}"
    assert attribute(right_seen, SHAPES)["label"] == "reasoning"
    assert attribute("<think>2 - 1 = 3.</think> \\boxed{3}", SHAPES)["label"] == "unknown"
    # A wrong re-check counts too.
    recheck = "<think>I see bar B at 5. Check: I see bar B at 4.</think> \\boxed{B}"
    assert attribute(recheck, CHART)["label"] == "perception"


@pytest.mark.parametrize("options", ["sampled", "fixed"])
def test_every_reference_trace_of_the_world_is_fully_understood_and_true(options):
    for family in ("perception", "visual"):
        for cfg in (WorldConfig(options=options), WorldConfig(options=options, inventory_in_trace=True)):
            for item in generate(family, 80, seed=3, cfg=cfg):
                out = attribute(item.trace, item.scene)
                assert out["label"] == "reasoning", (item.trace, out)
                assert all(c["true"] is not None for c in out["claims"]), (item.trace, out["claims"])
