"""Caption sources (HF datasets, PixMo-Cap style), the local writer, the one-call world build and the CLI."""

import json

import datasets
import pytest
from PIL import Image

from stagewise.cli import main
from stagewise.data.perception import sources
from stagewise.data.perception.filter import FilterConfig
from stagewise.data.perception.pipeline import build_perception_set
from stagewise.data.perception.writer import WriterConfig, write_mcq
from stagewise.data.sources import DataError, load_rows


def test_hf_dataset_with_configured_columns(tmp_path):
    imgs = [Image.new("RGB", (20, 20), c) for c in ("red", "blue", "green")]
    ds = datasets.Dataset.from_dict(
        {"pic": imgs, "text": ["a red square", "", "a green square"], "key": ["r/1", "b/2", "g/3"]}
    ).cast_column("pic", datasets.Image())
    ds.save_to_disk(str(tmp_path / "ds"))
    records = sources.hf(
        str(tmp_path / "ds"),
        work_dir=tmp_path / "w",
        image_column="pic",
        caption_column="text",
        id_column="key",
    )
    good, bad = sources.validate(records)
    assert [r["id"] for r in good] == ["r/1", "g/3"] and bad == [
        {"id": "b/2", "field": "caption", "reason": "empty caption"}
    ]
    assert Image.open(good[0]["image"]).size == (20, 20)
    with pytest.raises(DataError, match=r"no column 'image' \(columns: pic, text, key\)"):
        sources.hf(str(tmp_path / "ds"), work_dir=tmp_path / "w")


def test_pixmo_style_rows_find_downloaded_images(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "abc123.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "photo.png")
    rows = [
        {"image_url": "https://x.org/a.jpg", "image_sha256": "abc123", "caption": "one"},
        {"image_url": "https://x.org/dir/photo.png", "caption": "two"},
        {"image_url": "https://x.org/gone.png", "caption": "three"},
    ]
    (tmp_path / "pixmo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    good, bad = sources.validate(sources.pixmo(tmp_path / "pixmo.jsonl", image_dir=tmp_path / "imgs"))
    assert [r["caption"] for r in good] == ["one", "two"] and good[0]["id"] == "abc123"
    assert len(bad) == 1 and "not found" in bad[0]["reason"]


def test_local_writer_failures_are_counted(tmp_path, world_dir, tiny_model_dir):
    # A random tiny model writes no JSON: every item fails with a reason, nothing crashes.
    records = sources.world(world_dir, families=("perception",))[:3]
    cfg = WriterConfig(writer="local", model=str(tiny_model_dir), max_new_tokens=8, batch_size=3)
    report = write_mcq(records, tmp_path / "out", cfg)
    assert report["written"] == 0 and report["failed"] == 3
    assert set(report["failed_by_reason"]) <= {"not_json", "empty_reply"}


def test_offline_writer_needs_scene_graphs(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    report = write_mcq([{"id": "a", "caption": "x", "image": str(tmp_path / "a.png")}], tmp_path / "o")
    assert report["failed_by_reason"] == {"no_scene_graph": 1}


def test_build_perception_set_from_the_world(tmp_path, world_dir, tiny_model_dir):
    # Zero thresholds keep every item, so this checks the plumbing with a real local filter model.
    cfg = FilterConfig(min_image_wrong=0.0, min_caption_right=0.0, batch_size=16)
    train = build_perception_set(
        world_dir, [tiny_model_dir], tmp_path / "p", families=("perception",), limit=12, filter_cfg=cfg
    )
    rows = load_rows(train)
    done = json.loads((tmp_path / "p" / "done.json").read_text())
    assert done["written"] == 12 and done["kept"] == 12 and len(rows) == done["splits"]["train"] > 0
    assert rows[0]["images"][0].size == (112, 112) and rows[0]["answer"] in "ABCD"
    mtime = (tmp_path / "p" / "done.json").stat().st_mtime
    assert (
        build_perception_set(
            world_dir,
            [tiny_model_dir],
            tmp_path / "p",
            families=("perception",),
            limit=12,
            filter_cfg=FilterConfig(min_image_wrong=0.0, min_caption_right=0.0),
        )
        == train
    )
    assert (tmp_path / "p" / "done.json").stat().st_mtime == mtime  # finished: nothing redone


def test_cli_write_filter_export(tmp_path, world_dir, chat_server):
    server = chat_server(lambda text, body: (200, "answer: A"))  # a filter model that always says A
    w, f, e = tmp_path / "w", tmp_path / "f", tmp_path / "e"
    assert (
        main(
            [
                "data",
                "write-mcq",
                "--source",
                "world",
                "--input",
                str(world_dir),
                "--out",
                str(w),
                "--limit",
                "10",
            ]
        )
        == 0
    )
    assert len((w / "mcq.jsonl").read_text().splitlines()) == 10
    assert (
        main(
            [
                "data",
                "filter",
                "--items",
                str(w),
                "--out",
                str(f),
                "--model",
                f"vlm@{server.url}",
                "--min-caption-right",
                "0",
                "--retries",
                "0",
            ]
        )
        == 0
    )
    report = json.loads((f / "filter_report.json").read_text())
    golds = [json.loads(x)["answer"] for x in (w / "mcq.jsonl").read_text().splitlines()]
    assert report["items"] == 10 and report["per_model"]["vlm"]["image_empty_rate"] == 0.0
    assert report["kept"] == sum(g != "A" for g in golds) > 0
    assert (
        main(
            [
                "data",
                "export",
                "--items",
                str(f / "kept.jsonl"),
                "--out",
                str(e),
                "--splits",
                "0.5",
                "0.2",
                "0.3",
            ]
        )
        == 0
    )
    assert json.loads((e / "splits.json").read_text())["fractions"] == {"train": 0.5, "val": 0.2, "test": 0.3}
    assert (
        main(
            ["data", "write-mcq", "--source", "world", "--input", str(tmp_path / "nowhere"), "--out", str(w)]
        )
        == 2
    )
    ws = tmp_path / "ws"
    assert (
        main(
            [
                "data",
                "write-mcq",
                "--source",
                "world",
                "--input",
                str(world_dir),
                "--out",
                str(ws),
                "--limit",
                "10",
                "--style",
                "world",
            ]
        )
        == 0
    )
    kinds = {json.loads(x)["kind"] for x in (ws / "mcq.jsonl").read_text().splitlines()}
    assert kinds and kinds <= {
        "count",
        "colour",
        "position",
        "relation",
        "size",
        "label",
        "bar_value",
        "bar_max",
    }


def test_docci_split_filter(tmp_path):
    from perception_helpers import write_docci

    path = write_docci(tmp_path, {"a": "one", "b": "two"})
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[1]["split"] = "test"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["id"] for r in sources.docci(path, split="train")] == ["a"]
    assert [r["id"] for r in sources.docci(path)] == ["a", "b"]


def test_build_perception_set_can_balance_what_it_keeps(tmp_path, world_dir, tiny_model_dir):
    from collections import Counter

    cfg = FilterConfig(min_image_wrong=0.0, min_caption_right=0.0, batch_size=16)
    build_perception_set(
        world_dir,
        [tiny_model_dir],
        tmp_path / "p",
        families=("perception", "visual"),
        filter_cfg=cfg,
        question_style="world",
        balance=True,
    )
    done = json.loads((tmp_path / "p" / "done.json").read_text())
    exported = [json.loads(x) for x in (tmp_path / "p" / "filter" / "kept.jsonl").read_text().splitlines()]
    assert done["kept"] == len(exported) > done["exported"] > 0 and done["spec"]["balance"] is True
    ids = json.loads((tmp_path / "p" / "export" / "splits.json").read_text())["ids"]
    chosen = {i for split in ids.values() for i in split}
    per_kind = Counter((r["kind"], r["answer"]) for r in exported if r["id"] in chosen)
    for kind in {k for k, _ in per_kind}:
        counts = [n for (k, _), n in per_kind.items() if k == kind]
        assert len(counts) >= 2 and len(set(counts)) == 1, (kind, counts)  # every kept letter equally often
