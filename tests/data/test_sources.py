import json

import pytest
from PIL import Image

from stagewise.data.sources import DataError, load_rows, read_jsonl_rows, to_dataset, to_trl_rows


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_paper_schema_round_trip(tmp_path):
    Image.new("RGB", (32, 32), "red").save(tmp_path / "a.png")
    p = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"index": 0, "problem": "<image>How many?", "answer": 3, "images": ["a.png"], "source": "x"},
            {"index": 1, "problem": "2+2?", "answer": "4", "images": [], "source": "x"},
        ],
    )
    rows = to_trl_rows(read_jsonl_rows(p))
    assert rows[0]["answer"] == "3" and rows[0]["answer_kind"] == "number"
    assert rows[0]["images"][0].size == (32, 32)
    assert rows[0]["prompt"][0]["content"].startswith("How many?\nYou FIRST think")
    assert rows[1]["images"] == []
    ds = to_dataset(rows)
    assert len(ds[0]["images"]) == 1 and ds[1]["images"] == []


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"problem": "x", "answer": "1"', r"d.jsonl:2: not valid JSON"),
        ('{"answer": "1", "images": []}', r"d.jsonl:2: missing field 'problem'"),
        ('{"problem": "x", "images": []}', r"d.jsonl:2: missing field 'answer'"),
        ('{"problem": 5, "answer": "1"}', r"d.jsonl:2: field 'problem' has type int"),
        ('{"problem": "x", "answer": "1", "images": "a.png"}', r"d.jsonl:2: field 'images' must be a list"),
        (
            '{"problem": "x", "answer": "1", "images": ["gone.png"]}',
            r"d.jsonl:2: field 'images': file not found",
        ),
        ("[1, 2]", r"d.jsonl:2: row is not a JSON object"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, line, message):
    p = write_jsonl(tmp_path / "d.jsonl", ['{"problem": "ok", "answer": "1"}', line])
    with pytest.raises(DataError, match=message):
        read_jsonl_rows(p)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        read_jsonl_rows(tmp_path / "none.jsonl")
    (tmp_path / "x.txt").write_text("a,b\n")
    with pytest.raises(DataError, match="x.txt: not a data file stagewise reads"):
        load_rows(tmp_path / "x.txt")
    with pytest.raises(DataError, match="nope: data not found"):
        load_rows(tmp_path / "nope")


def test_world_jsonl_and_dataset_agree(world_dir):
    from_ds = load_rows(world_dir / "perception" / "test")
    from_jsonl = load_rows(world_dir / "perception" / "test.jsonl")
    assert [r["answer"] for r in from_ds] == [r["answer"] for r in from_jsonl]
    assert from_ds[0]["images"][0].tobytes() == from_jsonl[0]["images"][0].tobytes()


def test_sft_rows_need_a_solution(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"problem": "x", "answer": "1"}])
    with pytest.raises(DataError, match="has no 'solution'"):
        to_trl_rows(read_jsonl_rows(p), with_completion=True)
