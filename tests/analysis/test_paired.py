"""Paired differences against the base: the arithmetic, matching by id, per family, and the table."""

import json
import math

import pytest

from stagewise.analysis.paired import (
    collapse_free_table,
    collapsed_kinds,
    compare_to_reference,
    format_difference,
    load_eval_items,
    paired_difference,
    paired_table,
)


def _items(correct: list[bool], family: str = "perception", prefix: str = "i") -> list[dict]:
    return [{"id": f"{prefix}{i}", "family": family, "correct": c} for i, c in enumerate(correct)]


def test_same_answers_differ_by_nothing():
    base = _items([True, False] * 50)
    d = paired_difference(base, base)
    assert (d["n"], d["delta"], d["se"], d["gained"], d["lost"], d["significant"]) == (
        100,
        0.0,
        0.0,
        0,
        0,
        False,
    )


def test_thirty_more_right_of_two_hundred_is_fifteen_points_and_significant():
    base = _items([i < 100 for i in range(200)])
    model = _items([i < 130 for i in range(200)])
    d = paired_difference(base, model)
    sd = math.sqrt((30 * 0.85**2 + 170 * 0.15**2) / 199)  # sample sd of thirty 1s and 170 0s
    assert d["delta"] == pytest.approx(15.0)
    assert d["se"] == pytest.approx(100 * sd / math.sqrt(200))
    assert d["ci95"] == pytest.approx(1.96 * d["se"])
    assert (d["gained"], d["lost"], d["significant"]) == (30, 0, True)


def test_one_gained_one_lost_is_not_significant_and_order_does_not_matter():
    base = _items([True, False, True, True])
    model = list(reversed(_items([False, True, True, True])))  # item 0 lost, item 1 gained
    d = paired_difference(base, model)
    assert (d["delta"], d["gained"], d["lost"], d["significant"]) == (0.0, 1, 1, False)


def test_items_missing_from_the_reference_are_ignored():
    base = _items([True, False])
    model = _items([True, True, True], prefix="i")  # i2 has no base answer
    assert paired_difference(base, model)["n"] == 2
    assert paired_difference([], model)["delta"] is None
    one = paired_difference(base[:1], model[:1])
    assert (one["delta"], one["ci95"], one["significant"], format_difference(one)) == (
        0.0,
        None,
        False,
        "+0.0",
    )


def test_compare_per_family_and_overall_and_table(tmp_path):
    base = _items([False] * 10, "perception", "p") + _items([True] * 10, "visual", "v")
    model = _items([True] * 10, "perception", "p") + _items([True] * 9 + [False], "visual", "v")
    for label, rows in (("base", base), ("staged/seed0/visual", model)):
        (tmp_path / label).mkdir(parents=True)
        (tmp_path / label / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = load_eval_items(
        {
            "base": tmp_path / "base",
            "staged/seed0/visual": tmp_path / "staged/seed0/visual",
            "never evaluated": tmp_path / "absent",
        }
    )
    assert set(items) == {"base", "staged/seed0/visual"}
    c = compare_to_reference(items, ["perception", "visual"])
    assert list(c) == ["staged/seed0/visual"]
    got = c["staged/seed0/visual"]
    assert got["perception"]["delta"] == pytest.approx(100.0) and got["perception"]["significant"]
    assert got["visual"]["delta"] == pytest.approx(-10.0) and not got["visual"]["significant"]
    assert got["overall"]["delta"] == pytest.approx(45.0) and got["overall"]["n"] == 20
    header, rows = paired_table(c, ["perception", "visual"])
    assert header == ["model", "perception Δ", "visual Δ", "overall Δ", "items right / wrong vs base"]
    assert rows[0][0] == "staged/seed0/visual" and rows[0][1] == "+100.0 ± 0.0*"
    assert rows[0][2] == format_difference(got["visual"]) and rows[0][2].startswith("-10.0 ± ")
    assert not rows[0][2].endswith("*") and rows[0][4] == "+10 / -1"
    assert compare_to_reference({"staged": model}, ["perception"]) == {}


def _kind_items(kind: str, golds: list[str], answers: list[str], family: str = "visual") -> list[dict]:
    return [
        {"id": f"{kind}{i}", "family": family, "kind": kind, "answer": g, "extracted": a, "correct": g == a}
        for i, (g, a) in enumerate(zip(golds, answers, strict=True))
    ]


def test_a_gain_from_answering_one_number_everywhere_is_left_out_without_collapsed_kinds():
    # "more": gold 1 on half the items; the base answers from what it sees (right on 4 of 10), the model says
    # "1" to all (right on 5): +10 points that are the prior. "points": both answer the same, the model one
    # more right.
    golds = ["1", "2", "1", "3", "1", "2", "1", "4", "1", "2"]
    base = _kind_items("more", golds, ["1", "2", "2", "3", "2", "1", "1", "1", "2", "1"])
    model = _kind_items("more", golds, ["1"] * 10)
    pts = ["4", "6", "8", "10"]
    base += _kind_items("points", pts, ["4", "6", "9", "9"])
    model += _kind_items("points", pts, ["4", "6", "8", "9"])
    assert collapsed_kinds(model) == {"visual/more"} and collapsed_kinds(base) == set()
    assert collapsed_kinds(_kind_items("more", ["1"] * 10, ["1"] * 10)) == set()  # gold not spread: fine
    c = compare_to_reference({"base": base, "final": model}, ["visual"])["final"]
    assert c["visual"]["delta"] == pytest.approx(100 * 2 / 14)
    assert c["collapsed"] == ["visual/more"]
    assert c["without_collapsed"]["visual"]["n"] == 4
    assert c["without_collapsed"]["visual"]["delta"] == pytest.approx(25.0)
    header, rows = collapse_free_table({"final": c}, ["visual"])
    assert header[-1] == "kinds left out" and rows[0][-1] == "visual/more"
    assert rows[0][1].startswith("+25.0 ± ")
