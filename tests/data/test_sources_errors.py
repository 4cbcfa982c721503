"""Bad stage data gives one DataError naming the file, the line and the field, never a raw traceback."""

import json
import re
import struct
import zlib

import datasets
import pytest
from PIL import Image

from stagewise.data.sources import DataError, load_rows, to_dataset, to_trl_rows

GOOD = {"id": "a", "problem": "<image>How many?", "answer": "3", "images": ["ok.png"]}


def _write(tmp_path, lines, name="d.jsonl", end=b"\n"):
    """The JSONL file `name` whose first line is a good row; `lines` (dicts, str or bytes) follow it."""
    Image.new("RGB", (16, 16), "red").save(tmp_path / "ok.png")
    body = [json.dumps(GOOD).encode()]
    for line in lines:
        body.append(
            line
            if isinstance(line, bytes)
            else (line if isinstance(line, str) else json.dumps(line)).encode()
        )
    path = tmp_path / name
    path.write_bytes(b"\n".join(body) + end)
    return path


def _row(**kw):
    return {"id": "b", "problem": "<image>What colour?", "answer": "red", "images": ["bad.png"], **kw}


def _raises(path, *parts):
    """load_rows raises one DataError whose message holds every part (file, line, field, reason)."""
    with pytest.raises(DataError) as info:
        load_rows(path)
    msg = str(info.value)
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def _noise_png(path, size=64):
    Image.effect_noise((size, size), 60).convert("RGB").save(path)


def test_truncated_png(tmp_path):
    _noise_png(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "bad.png").write_bytes(data[: len(data) // 2])
    msg = _raises(_write(tmp_path, [_row()]), "d.jsonl:2:", "field 'images'", "bad.png", "broken image")
    assert "truncated" in msg


def test_text_file_named_png(tmp_path):
    (tmp_path / "bad.png").write_text("this is not an image\n")
    _raises(_write(tmp_path, [_row()]), "d.jsonl:2:", "field 'images'", "bad.png", "not a readable image")


def _png_header(width, height):
    """A PNG that claims `width`x`height` pixels and holds none: what a decompression bomb's header looks
    like."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_header(tmp_path):
    # Over twice the limit, where PIL itself raises DecompressionBombError while opening.
    (tmp_path / "bad.png").write_bytes(_png_header(60_000, 60_000))
    msg = _raises(
        _write(tmp_path, [_row()]),
        "d.jsonl:2:",
        "field 'images'",
        "bad.png",
        "image too large",
        "MAX_IMAGE_PIXELS",
    )
    assert str(60_000 * 60_000) in msg and str(Image.MAX_IMAGE_PIXELS) in msg


def test_image_over_the_pixel_limit_is_an_error_not_a_warning(tmp_path, monkeypatch):
    # Between the limit and twice it PIL only warns (DecompressionBombWarning); here it is an error.
    Image.new("RGB", (40, 40), "blue").save(tmp_path / "bad.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    _raises(
        _write(tmp_path, [_row()]),
        "d.jsonl:2:",
        "field 'images'",
        "bad.png",
        "40x40 = 1600 pixels",
        "limit of 1000",
    )
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # None: no limit, as in PIL
    assert load_rows(tmp_path / "d.jsonl")[1]["images"][0].size == (40, 40)


def test_directory_and_missing_image(tmp_path):
    (tmp_path / "bad.png").mkdir()
    _raises(_write(tmp_path, [_row()]), "d.jsonl:2:", "field 'images'", "not a file", "bad.png")
    _raises(
        _write(tmp_path, [_row(images=["gone.png"])]),
        "d.jsonl:2:",
        "field 'images'",
        "file not found",
        "gone.png",
    )


@pytest.mark.parametrize("content", [b"", b"\n\n  \n\t\n"])
def test_no_rows(tmp_path, content):
    (tmp_path / "d.jsonl").write_bytes(content)
    _raises(tmp_path / "d.jsonl", "d.jsonl", "no rows")


def test_empty_saved_dataset(tmp_path):
    features = datasets.Features({"problem": datasets.Value("string"), "answer": datasets.Value("string")})
    datasets.Dataset.from_dict({"problem": [], "answer": []}, features=features).save_to_disk(
        str(tmp_path / "ds")
    )
    _raises(tmp_path / "ds", "ds", "no rows")


def test_duplicate_ids(tmp_path):
    Image.new("RGB", (16, 16)).save(tmp_path / "bad.png")
    msg = _raises(
        _write(tmp_path, ["", {**GOOD, "answer": "4"}]),
        "d.jsonl:3:",
        "field 'id'",
        "'a'",
        "line 1",
        "different answer",
        "'3' there, '4' here",
    )
    # Identical duplicates are rejected too: ids key rewards, logs and evaluation.
    msg = _raises(_write(tmp_path, [GOOD]), "d.jsonl:2:", "field 'id'", "'a'", "line 1", "unique")
    assert "different answer" not in msg
    # Without an `id` the id comes from `index`; a repeated index says so.
    rows = [{"index": 7, "problem": "1+1?", "answer": "2"}, {"index": 7, "problem": "2+2?", "answer": "4"}]
    msg = _raises(_write(tmp_path, rows), "d.jsonl:3:", "field 'id'", "'d-7'", "line 2", "'index'")


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("NaN", "is nan"),
        ("Infinity", "is inf"),
        ("null", "is null"),
        ('""', "is empty"),
        ('"  "', "is empty"),
        ("true", "has type bool"),
        ("[1]", "has type list"),
        ('{"a": 1}', "has type dict"),
    ],
)
def test_bad_answers(tmp_path, answer, reason):
    line = '{"id": "b", "problem": "2+2?", "answer": ' + answer + "}"
    _raises(_write(tmp_path, [line]), "d.jsonl:2:", "field 'answer'", reason)


def test_bad_answers_from_other_sources(tmp_path):
    # Rows that did not come through the JSONL reader (a saved dataset, a caller's list) are checked too.
    rows = [{"id": "x", "problem": "p", "answer": "1"}, {"id": "y", "problem": "p", "answer": float("nan")}]
    with pytest.raises(DataError, match=r"src: row 2 \(id 'y'\): field 'answer' is nan"):
        to_trl_rows(rows, source="src")
    with pytest.raises(DataError, match=r"row 1 \(id 'z'\): field 'answer' is null"):
        to_trl_rows([{"id": "z", "problem": "p", "answer": None}])
    with pytest.raises(DataError, match=r"row 1: missing field 'answer'"):
        to_trl_rows([{"problem": "p"}])
    with pytest.raises(DataError, match=r"row 1: field 'answer_kind' is 'mcq'"):
        to_trl_rows([{"problem": "p", "answer": "A", "answer_kind": "mcq"}])


def test_non_utf8_bytes(tmp_path):
    path = _write(tmp_path, [b'{"id": "b", "problem": "caf\xe9?", "answer": "1"}'])
    column = (tmp_path / "d.jsonl").read_bytes().split(b"\n")[1].index(b"\xe9") + 1
    msg = _raises(path, "d.jsonl:2:", "not UTF-8", "0xe9", f"column {column}")
    assert "UnicodeDecodeError" not in msg


def test_utf8_bom_and_line_separators_are_fine(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"problem": "a\u2028b?", "answer": "1"}, ensure_ascii=False).encode()
    )
    rows = load_rows(path)
    assert len(rows) == 1 and rows[0]["problem"] == "a\u2028b?"


def test_torn_last_line(tmp_path):
    path = _write(tmp_path, ['{"id": "b", "problem": "2+2?", "answ'], end=b"")
    _raises(path, "d.jsonl:2:", "not valid JSON", "cut short")


def test_malformed_line_in_the_middle(tmp_path):
    path = _write(
        tmp_path, ['{"id": "b", "problem": "2+2?" "answer": "4"}', {"id": "c", "problem": "x", "answer": 1}]
    )
    msg = _raises(path, "d.jsonl:2:", "not valid JSON", "column")
    assert "cut short" not in msg


@pytest.mark.parametrize(
    "row, parts",
    [
        ({"id": "b", "answer": "1"}, ("missing field 'problem'",)),
        ({"id": "b", "problem": "   ", "answer": "1"}, ("field 'problem' is empty",)),
        ({"id": "b", "problem": ["x"], "answer": "1"}, ("field 'problem' has type list",)),
        ({"id": "b", "problem": "x"}, ("missing field 'answer'",)),
        ({"id": True, "problem": "x", "answer": "1"}, ("field 'id' is True",)),
        ({"id": {"a": 1}, "problem": "x", "answer": "1"}, ("field 'id' is {'a': 1}",)),
        ({"id": "", "problem": "x", "answer": "1"}, ("field 'id' is ''",)),
        ({"index": 1.5, "problem": "x", "answer": "1"}, ("field 'index' is 1.5",)),
        ({"id": "b", "problem": "x", "answer": "1", "solution": 3}, ("field 'solution' has type int",)),
        ({"id": "b", "problem": "x", "answer": "1", "kind": ["k"]}, ("field 'kind' has type list",)),
        ({"id": "b", "problem": "x", "answer": "A", "answer_kind": "mcq"}, ("field 'answer_kind' is 'mcq'",)),
        (
            {"id": "b", "problem": "x", "answer": "1", "images": [3]},
            ("field 'images'", "must be a path, bytes or an image, got int"),
        ),
        (
            {"id": "b", "problem": "x", "answer": "1", "images": [""]},
            ("field 'images'", "an image path is empty"),
        ),
    ],
)
def test_missing_fields_and_wrong_types(tmp_path, row, parts):
    _raises(_write(tmp_path, [row]), "d.jsonl:2:", *parts)


def test_data_path_is_a_directory(tmp_path):
    (tmp_path / "d.jsonl").mkdir()
    _raises(tmp_path / "d.jsonl", "d.jsonl", "not a file")


def test_to_dataset_errors_are_data_errors():
    with pytest.raises(DataError, match="no rows"):
        to_dataset([])
    with pytest.raises(DataError, match="do not fit one table: field 'x': row 1 has int, row 3 has str"):
        to_dataset([{"answer": "1", "x": 1}, {"answer": "2", "x": None}, {"answer": "3", "x": "a"}])


def test_good_rows_still_load(tmp_path):
    # The checks pass the shapes real data has: numeric answers, null images, a few images, id from index.
    Image.new("L", (8, 8)).save(tmp_path / "grey.png")
    rows = [
        {"index": 1, "id": None, "problem": "1+1?", "answer": 2, "images": None},
        {
            "index": 2,
            "problem": "<image><image>Same?",
            "answer": 0.5,
            "images": ["ok.png", "grey.png"],
            "answer_kind": "number",
            "solution": None,
        },
    ]
    loaded = load_rows(_write(tmp_path, rows))
    assert [r["id"] for r in loaded] == ["a", "d-1", "d-2"]
    assert [r["answer"] for r in loaded] == ["3", "2", "0.5"]
    assert [im.mode for im in loaded[2]["images"]] == ["RGB", "RGB"]
    trl = to_trl_rows(loaded)
    assert re.match("How many", trl[0]["prompt"][0]["content"]) and len(to_dataset(trl)) == 3
