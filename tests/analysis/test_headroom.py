"""Greedy vs sampled answers on the same items: the arithmetic, and `stagewise data headroom` end to end."""

import json
import logging

import pytest

from stagewise.analysis.headroom import headroom, headroom_table, mentions
from stagewise.cli import main


def _item(i: int, kind: str, correct: bool, answer: str = "A") -> dict:
    return {"id": f"x{i}", "family": "perception", "kind": kind, "correct": correct, "answer": answer}


def test_guessing_and_half_known_kinds_are_told_apart():
    # count: greedy right on 2 of 4; its two greedy-wrong items are sampled right 0.25 and 0.25 (chance)
    # colour: greedy right on 1 of 4; its greedy-wrong items are sampled right 0.5, 0.75, 0.0 (two half-known)
    greedy = [
        _item(0, "count", True),
        _item(1, "count", True),
        _item(2, "count", False),
        _item(3, "count", False),
        _item(4, "colour", True),
        _item(5, "colour", False),
        _item(6, "colour", False),
        _item(7, "colour", False),
        _item(8, "colour", False),
    ]
    rates = {"x0": 1.0, "x1": 0.75, "x2": 0.25, "x3": 0.25, "x4": 1.0, "x5": 0.5, "x6": 0.75, "x7": 0.0}
    rows = {r["group"]: r for r in headroom(greedy, rates)}  # x8 has no pass rate: left out
    assert list(rows) == ["perception/count", "perception/colour", "all"]
    count, colour, every = rows["perception/count"], rows["perception/colour"], rows["all"]
    assert (count["n"], count["greedy"], count["sampled"]) == (4, 0.5, pytest.approx(2.25 / 4))
    assert (count["sampled_on_greedy_wrong"], count["half_known"], count["chance"]) == (0.25, 0.0, 0.25)
    assert (colour["n"], colour["greedy_wrong"], colour["half_known"]) == (4, 3, pytest.approx(2 / 3))
    assert colour["sampled_on_greedy_wrong"] == pytest.approx(1.25 / 3)
    assert colour["pass_at_k"] == 0.75 and colour["sampled_on_greedy_right"] == 1.0
    assert every["n"] == 8 and every["greedy"] == pytest.approx(3 / 8)
    header, table = headroom_table(list(rows.values()), k=4)
    assert "pass@4" in header and table[0][:3] == ["perception/count", "4", "50.0"]


def test_items_about_a_word_get_their_own_rows():
    rows = [
        {"id": "x0", "solution": "<think>I see a red circle. So the answer is A.</think> \\boxed{A}"},
        {"id": "x1", "solution": "<think>I see a green square. So the answer is B.</think> \\boxed{B}"},
        {"id": "x2", "solution": "<think>I see 2 red shapes and 1 triangle.</think> \\boxed{red}"},
        {"id": "x3", "solution": "<think>I see a reddish-brown triangles.</think> \\boxed{C}"},
    ]
    tags = mentions(rows, ["red", "triangle"])
    assert tags == {"x0": ["red"], "x2": ["red", "triangle"]}  # whole words in the reasoning only
    # x0 comes last, yet its [red] row sits right after the colour row
    greedy = [_item(1, "colour", True), _item(2, "count", True), _item(0, "colour", False)]
    result = {r["group"]: r for r in headroom(greedy, {"x0": 0.5, "x1": 1.0, "x2": 1.0}, tags)}
    assert list(result) == [
        "perception/colour",
        "perception/colour [red]",
        "perception/count",
        "perception/count [red]",
        "perception/count [triangle]",
        "all",
    ]
    assert result["perception/colour [red]"]["n"] == 1 and result["perception/colour [red]"]["greedy"] == 0.0
    assert result["all"]["n"] == 3


def test_numeric_answers_have_no_chance_level():
    rows = headroom(
        [{"id": 1, "family": "visual", "kind": "more", "correct": False, "answer": "12"}], {"1": 0.0}
    )
    assert rows[0]["chance"] is None and rows[-1]["group"] == "all"
    assert headroom([], {}) == []


def test_cli_writes_greedy_pass_rates_and_the_table(tmp_path, world_dir, tiny_model_dir):
    out = tmp_path / "headroom"
    args = [
        "data",
        "headroom",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(world_dir),
        "--out",
        str(out),
        "--families",
        "perception,textual",
        "--size",
        "3",
        "--k",
        "2",
        "--max-new-tokens",
        "4",
        "--mentions",
        "see",
    ]
    assert main(args) == 0
    result = json.loads((out / "headroom.json").read_text())
    assert result["k"] == 2
    groups = {g["group"]: g for g in result["groups"]}
    assert groups["all"]["n"] == 6
    assert sum(g["n"] for name, g in groups.items() if name != "all" and "[" not in name) == 6
    # Perception traces open with "I see"; textual ones with "We have".
    assert sum(g["n"] for name, g in groups.items() if name.endswith("[see]")) == 3
    assert len((out / "greedy" / "items.jsonl").read_text().splitlines()) == 6
    assert len((out / "pass_rates.jsonl").read_text().splitlines()) == 6
    assert "| all | 6 |" in (out / "headroom.md").read_text()


def test_cli_names_a_missing_split(tmp_path, world_dir, tiny_model_dir, caplog):
    with caplog.at_level(logging.ERROR):
        assert (
            main(
                [
                    "data",
                    "headroom",
                    "--model",
                    str(tiny_model_dir),
                    "--data",
                    str(world_dir),
                    "--out",
                    str(tmp_path / "o"),
                    "--families",
                    "perception",
                    "--split",
                    "val",
                ]
            )
            == 2
        )
    assert "perception/val" in caplog.text
