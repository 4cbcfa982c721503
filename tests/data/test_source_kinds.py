"""Every kind of stage data source reads into the same rows, images kept encoded; bad sources name
themselves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from PIL import Image

from stagewise.data.sources import INLINE_BYTES, DataError, decode_image, load_rows, to_dataset, to_trl_rows

ROOT = Path(__file__).resolve().parents[2]


def _image(path: Path, size=(64, 48), colour="red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _big_jpeg_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(buf, format="JPEG", quality=95)
    assert len(buf.getvalue()) > INLINE_BYTES
    return buf.getvalue()


def _check(rows: list[dict], n_images: int = 1):
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["answer"] for r in rows] == ["2", "3"]
    for r in rows:
        assert len(r["images"]) == n_images
        assert all(isinstance(i, dict) and set(i) == {"path", "bytes"} for i in r["images"])  # not decoded
        assert decode_image(r["images"][0]).mode == "RGB"
    ds = to_dataset(to_trl_rows(rows, instruction=None))
    assert ds[0]["images"][0].size[0] > 0  # TRL's dataset decodes a row's images when it is read


def test_jsonl_with_columns_and_image_dir(tmp_path):
    """The paper's stage-1 formatter writes `prompt`/`image_path` with paths relative to an image folder."""
    _image(tmp_path / "imgs" / "x.png")
    rows = [
        {"example_id": "a", "prompt": "<image>How many?", "answer": 2, "image_path": ["x.png"]},
        {"example_id": "b", "prompt": "<image>How many?", "answer": 3, "image_path": ["x.png"]},
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"train.jsonl:1: missing field 'problem' \(the row has 'prompt'"):
        load_rows(data, decode=False)
    cols = {"problem": "prompt", "images": "image_path", "id": "example_id"}
    with pytest.raises(DataError, match="train.jsonl:1: field 'images': file not found: .*x.png"):
        load_rows(data, decode=False, columns=cols)  # beside the file there is no x.png
    _check(load_rows(data, decode=False, columns=cols, image_dir=tmp_path / "imgs"))
    with pytest.raises(DataError, match=r"train.jsonl:1: no column 'question' \(data.columns.problem\)"):
        load_rows(data, decode=False, columns={"problem": "question"})


def test_an_image_column_under_another_name_is_never_dropped(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": "q", "answer": "1", "image_path": ["x.png"]}) + "\n")
    with pytest.raises(DataError, match=r"d.jsonl:1: .*'image_path' column; map it with `data.columns"):
        load_rows(data, decode=False)


def test_parquet_and_json_files(tmp_path):
    big = _big_jpeg_bytes()
    ds = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "problem": ["q1", "q2"],
            "answer": ["2", "3"],
            "images": [[{"bytes": big, "path": None}], [{"bytes": big, "path": None}]],
        },
        features=datasets.Features(
            {
                "id": datasets.Value("string"),
                "problem": datasets.Value("string"),
                "answer": datasets.Value("string"),
                "images": datasets.List(datasets.Image()),
            }
        ),
    )
    ds.to_parquet(tmp_path / "d.parquet")
    cache = tmp_path / "cache"
    rows = load_rows(tmp_path / "d.parquet", decode=False, cache_dir=cache)
    _check(rows)
    # embedded images over INLINE_BYTES are written once (both rows share the file) and referenced by path
    assert rows[0]["images"][0]["path"] == rows[1]["images"][0]["path"]
    assert Path(rows[0]["images"][0]["path"]).read_bytes() == big and len(list(cache.rglob("*.jpeg"))) == 1
    _image(tmp_path / "x.png")
    (tmp_path / "d.json").write_text(
        json.dumps(
            [
                {"id": "a", "problem": "q", "answer": 2, "image": "x.png"},
                {"id": "b", "problem": "q", "answer": 3, "image": "x.png"},
            ]
        )
    )
    _check(load_rows(tmp_path / "d.json", decode=False))


def test_saved_datasets_with_an_images_list_column(tmp_path):
    """A `save_to_disk` folder whose `images` column is a list (once read as 0 images per row)."""
    _image(tmp_path / "x.png")
    ds = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "problem": ["q", "q"],
            "answer": ["2", "3"],
            "images": [[str(tmp_path / "x.png")] * 2, [str(tmp_path / "x.png")] * 2],
        }
    )
    ds = ds.cast_column("images", datasets.List(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "saved"))
    _check(load_rows(tmp_path / "saved", decode=False), n_images=2)
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "dd"))
    _check(load_rows(tmp_path / "dd", decode=False), n_images=2)
    assert len(load_rows(tmp_path / "dd", decode=False, split="test")) == 1
    with pytest.raises(DataError, match=r"dd: no split 'val' .*splits: train, test"):
        load_rows(tmp_path / "dd", decode=False, split="val")


def test_a_folder_load_dataset_reads(tmp_path):
    folder = tmp_path / "folder"
    _image(folder / "train" / "0.png")
    _image(folder / "train" / "1.png", colour="blue")
    (folder / "train" / "metadata.jsonl").write_text(
        json.dumps({"file_name": "0.png", "id": "a", "problem": "q", "answer": "2"})
        + "\n"
        + json.dumps({"file_name": "1.png", "id": "b", "problem": "q", "answer": "3"})
        + "\n"
    )
    _check(load_rows(folder, decode=False))  # imagefolder: an `image` column of datasets.Image


def test_hub_ids_go_to_load_dataset_with_split_config_and_revision(tmp_path, monkeypatch):
    _image(tmp_path / "x.png")
    local = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "problem": ["q", "q"],
            "answer": ["2", "3"],
            "image": [str(tmp_path / "x.png")] * 2,
        }
    )
    calls = []

    def fake_load_dataset(
        path, **kwargs
    ):  # the Hub stays offline: the call is recorded, a local dataset returned
        calls.append((path, kwargs))
        return local.cast_column("image", datasets.Image())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    _check(
        load_rows(
            "UCSC-VLAA/VLM-CapCurriculum-Perception-Data",
            decode=False,
            config_name="default",
            revision="abc123",
        )
    )
    _check(load_rows("org/name@test", decode=False))
    assert calls == [
        (
            "UCSC-VLAA/VLM-CapCurriculum-Perception-Data",
            {"split": "train", "name": "default", "revision": "abc123"},
        ),
        ("org/name", {"split": "test"}),
    ]


def test_a_hub_id_that_does_not_exist_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"nobody-here/no-such-data: cannot (load|reach)"):
        load_rows("nobody-here/no-such-data", decode=False)


def test_recipe_takes_hub_ids_and_checks_image_dir_and_columns(tmp_path):
    from stagewise.config import RecipeError, load_recipe

    def recipe(data: str) -> Path:
        p = tmp_path / "r.yaml"
        p.write_text(
            f"name: r\noutput_dir: {tmp_path}\nstages:\n  - {{name: v, capability: visual_reasoning, "
            f"data: {data}}}\n"
        )
        return p

    assert load_recipe(recipe("{paths: [org/name@train], columns: {problem: prompt}}")).stages[
        0
    ].data.columns == {"problem": "prompt"}
    with pytest.raises(RecipeError, match=r"data.paths: file not found: data/x.jsonl"):
        load_recipe(recipe("{paths: [data/x.jsonl]}"))
    with pytest.raises(RecipeError, match=r"data.image_dir: folder not found: nowhere"):
        load_recipe(recipe("{paths: [org/name], image_dir: nowhere}"))
    with pytest.raises(RecipeError, match=r"data.columns: unknown field 'question'"):
        load_recipe(recipe("{paths: [org/name], columns: {question: prompt}}"))


MEASURE = """
import json, os, resource, sys
from pathlib import Path
sys.path.insert(0, {src!r})
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ds = to_dataset(to_trl_rows(load_rows({data!r}, decode=False), instruction=None))
first = ds[0]["images"][0].size  # one row decoded, as a batch would
print(json.dumps({{"grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                   "rows": len(ds)}}))
"""


def _peak_growth(tmp_path: Path, n: int) -> float:
    """Peak RSS growth of the data path (load, TRL rows, Dataset, one decoded row) over n rows of 1 MP
    JPEGs."""
    img = tmp_path / "src.jpg"
    if not img.exists():
        Image.effect_noise((1200, 900), 40).convert("RGB").save(img, quality=90)
    folder = tmp_path / f"n{n}"
    folder.mkdir()
    lines = []
    for i in range(n):
        os.link(img, folder / f"{i}.jpg")
        lines.append(json.dumps({"id": str(i), "problem": "q", "answer": "1", "images": [f"{i}.jpg"]}))
    (folder / "d.jsonl").write_text("\n".join(lines) + "\n")
    code = MEASURE.format(src=str(ROOT / "src"), data=str(folder / "d.jsonl"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == n
    return result["grew_mb"]


def test_memory_of_the_data_path_does_not_grow_with_rows(tmp_path):
    """Decoded up front, 400 rows of 1 MP images held about 1.2 GB (3 MB of pixels each); kept encoded, the
    data path's peak is the same for 50 and 400 rows."""
    small, large = _peak_growth(tmp_path, 50), _peak_growth(tmp_path, 400)
    assert large < 120, f"400 rows grew the peak by {large:.0f} MB"
    assert large - small < 40, f"50 rows: +{small:.0f} MB, 400 rows: +{large:.0f} MB"


def test_a_jpeg_with_bytes_after_its_end_marker_is_readable_and_a_cut_one_is_not(tmp_path):
    img = tmp_path / "x.jpg"
    Image.effect_noise((64, 48), 40).convert("RGB").save(img, quality=90)
    data = img.read_bytes()
    img.write_bytes(data + b"camera trailer " * 20)  # some cameras append data after the JPEG's end
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    rows = [
        {"id": "a", "problem": "q", "answer": "2", "images": ["x.jpg"]},
        {"id": "b", "problem": "q", "answer": "3", "images": ["x.jpg"]},
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _check(load_rows(tmp_path / "d.jsonl", decode=False))
    (tmp_path / "d.jsonl").write_text(json.dumps({**rows[0], "images": ["cut.jpg"]}) + "\n")
    with pytest.raises(
        DataError, match=r"d.jsonl:1: field 'images': broken image: .*cut.jpg \(JPEG file cut short"
    ):
        load_rows(tmp_path / "d.jsonl", decode=False)
