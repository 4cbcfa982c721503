"""`stagewise reward score`: rows in, one scored row out per input row; bad input names file, line and
field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stagewise.cli import main
from stagewise.data.sources import DataError
from stagewise.rewards.score_file import read_rows

ROWS = [
    {"id": "a", "response": "<think>t</think> \\boxed{3}", "answer": "3"},
    {"id": "b", "response": "<think>t</think> The answer: 3", "answer": 3},
    {"id": 7, "response": "<think>t</think> \\boxed{(B)}", "answer": "B", "answer_kind": "choice"},
    {"id": "d", "response": "<think>t</think> \\boxed{1000000!}", "answer": "\\frac{1}{2}"},
    {"id": "e", "response": "<think>t</think> \\boxed{4}", "answer": None},
]


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("mode", ["stagewise", "paper"])
def test_cli_scores_every_row_in_order(tmp_path: Path, mode: str, capsys) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        main(["reward", "score", str(_write(tmp_path / "c.jsonl", ROWS)), "--mode", mode, "--out", str(out)])
        == 0
    )
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["a", "b", 7, "d", "e"]
    assert set(got[0]) == {"id", "overall", "format", "accuracy", "extracted", "reason"}
    assert [g["accuracy"] for g in got] == [1.0, 0.0, 1.0, 0.0, None]
    assert [g["overall"] for g in got] == pytest.approx([1.0, 0.0, 1.0, 0.1, 0.1])
    assert got[3]["reason"] == "too_complex:factorial"
    assert got[1]["reason"] == "no_answer"
    assert got[1]["extracted"] == ("None" if mode == "paper" else None)
    assert f"5 responses, reward mode {mode}" in capsys.readouterr().out


def test_eval_flag_reads_unboxed_answers(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        main(["reward", "score", str(_write(tmp_path / "c.jsonl", ROWS[:2])), "--eval", "--out", str(out)])
        == 0
    )
    assert [json.loads(line)["accuracy"] for line in out.read_text().splitlines()] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "response": "x"}'], "c.jsonl:1: missing field 'answer'"),
        (['{"id": 1, "response": "x", "answer": "1"}', "{not json"], "c.jsonl:2: not valid JSON"),
        (['{"id": 1, "response": 3, "answer": "1"}'], "c.jsonl:1: field 'response' must be a string"),
        (
            ['{"id": 1, "response": "x", "answer": ["1"]}'],
            "c.jsonl:1: field 'answer' must be a string or number",
        ),
        (
            ['{"id": 1, "response": "x", "answer": "1", "answer_kind": "list"}'],
            "c.jsonl:1: field 'answer_kind'",
        ),
        (
            ['{"id": 1, "response": "x", "answer": "1"}', '{"id": 1, "response": "y", "answer": "1"}'],
            "c.jsonl:2: field 'id' 1 appears twice",
        ),
        (["[1, 2]"], "c.jsonl:1: expected a JSON object"),
        ([""], "c.jsonl: no rows"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("(", r"\(")):
        read_rows(path)
    assert main(["reward", "score", str(path), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert not (tmp_path / "o.jsonl").exists()
