"""`stagewise data pull paper` on a stand-in with the released layout (rows beside image archives), then the
paper preset run as written on what it laid out, with the tiny model."""

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from stagewise.cli import main
from stagewise.data.sources import load_rows

ROOT = Path(__file__).resolve().parents[2]


def _jpeg(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buf, format="JPEG")
    return buf.getvalue()


def _standin(root: Path) -> dict[str, Path]:
    """Three snapshots shaped as released: JSONL rows (the perception formatter's prompt/image_path columns),
    images in a tar.gz with a top folder of its own, or in a zip; a dataset card beside them."""
    snaps = {}
    per = root / "perception"
    (per / "images").mkdir(parents=True)
    with tarfile.open(per / "images" / "perception_images.tar.gz", "w:gz") as t:
        for i, colour in enumerate(["red", "blue", "green"]):
            data = _jpeg(colour)
            info = tarfile.TarInfo(f"docci/train_{i:05d}.jpg")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    rows = [
        {
            "index": str(i),
            "answer": "ABC"[i],
            "example_id": f"train_{i:05d}",
            "split": "train",
            "image_path": [f"train_{i:05d}.jpg"],
            "pass_rate": 0.2 * i,
            "prompt": "<image>What colour is the object?\nOptions:\nA: red\nB: blue\nC: green\nD: grey\n",
        }
        for i in range(3)
    ]
    (per / "perception_difficulty_curriculum.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (per / "README.md").write_text("card")
    snaps["UCSC-VLAA/VLM-CapCurriculum-Perception-Data"] = per
    txt = root / "textual"
    txt.mkdir()
    (txt / "textual_reasoning_difficulty_curriculum.jsonl").write_text(
        "".join(
            json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i), "pass_rate": 0.5}) + "\n"
            for i in range(1, 4)
        )
    )
    snaps["UCSC-VLAA/VLM-CapCurriculum-TextReasoning-Data"] = txt
    vis = root / "visual"
    (vis / "images").mkdir(parents=True)
    with zipfile.ZipFile(vis / "images" / "images.zip", "w") as z:
        for i in range(3):
            z.writestr(f"geo/{i}.jpg", _jpeg("white"))
    (vis / "visual_reasoning_difficulty_curriculum.jsonl").write_text(
        "".join(
            json.dumps(
                {"problem": "<image>How many sides?", "answer": str(3 + i), "images": [f"geo/{i}.jpg"]}
            )
            + "\n"
            for i in range(3)
        )
    )
    snaps["UCSC-VLAA/VLM-CapCurriculum-VisualReasoning-Data"] = vis
    return snaps


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """snapshot_download with the Hub offline: the stand-in is copied where the library would put it."""
    import huggingface_hub

    snaps = _standin(tmp_path / "hub")
    calls = []

    def snapshot_download(repo_id, repo_type, revision, local_dir):
        calls.append((repo_id, repo_type, revision))
        if repo_id not in snaps:
            from huggingface_hub.errors import LocalEntryNotFoundError

            raise LocalEntryNotFoundError(f"{repo_id} is not in the cache and the Hub is offline")
        shutil.copytree(snaps[repo_id], local_dir, dirs_exist_ok=True)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return snaps, calls


def test_pull_lays_out_the_papers_data(tmp_path, hub, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "pull", "paper", "--out", "data/paper"]) == 0
    _, calls = hub
    assert [c[0] for c in calls] == [
        "UCSC-VLAA/VLM-CapCurriculum-Perception-Data",
        "UCSC-VLAA/VLM-CapCurriculum-TextReasoning-Data",
        "UCSC-VLAA/VLM-CapCurriculum-VisualReasoning-Data",
    ]
    assert all(c[1] == "dataset" for c in calls)
    out = tmp_path / "data" / "paper"
    per = load_rows(out / "perception.jsonl")
    assert [r["id"] for r in per] == ["train_00000", "train_00001", "train_00002"]
    assert [r["answer"] for r in per] == ["A", "B", "C"] and per[2]["pass_rate"] == pytest.approx(0.4)
    assert per[1]["images"][0].getpixel((5, 5))[2] > 200  # train_00001 is the blue one, read from the archive
    assert per[0]["problem"].startswith("<image>What colour")
    assert [r["images"] for r in load_rows(out / "textual.jsonl")] == [[], [], []]
    vis = load_rows(out / "visual.jsonl", decode=False)
    assert all(Path(r["images"][0]["path"]).is_relative_to(out.resolve()) for r in vis)
    report = json.loads((out / "pull.json").read_text())
    assert report["perception"]["columns"] == {
        "problem": "prompt",
        "images": "image_path",
        "id": "example_id",
    }
    # a second pull neither unpacks nor changes anything
    before = (out / "perception.jsonl").read_text()
    assert main(["data", "pull", "paper", "--out", "data/paper"]) == 0
    assert (out / "perception.jsonl").read_text() == before


def test_the_paper_preset_runs_as_written_on_the_pulled_data(tmp_path, hub, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "pull", "paper", "--out", "data/paper"]) == 0
    overrides = [
        f"model.source={tiny_model_dir}",
        "eval.benchmarks=[]",
        "eval.size=2",
        "eval.batch_size=2",
        "eval.max_new_tokens=4",
        "eval.after_each_stage=false",
        "world.train_size=4",
        "world.test_size=2",
        "output_dir=runs",
    ]
    for stage in ("perception", "textual", "visual"):
        t = f"stages.{stage}.trainer"
        overrides += [
            f"{t}.steps=1",
            f"{t}.prompts_per_step=2",
            f"{t}.prompts_per_rollout=null",
            f"{t}.group_size=2",
            f"{t}.gradient_accumulation_steps=1",
            f"{t}.max_completion_length=4",
            f"{t}.bf16=false",
            f"{t}.gradient_checkpointing=false",
            f"{t}.vllm.mode=off",
            f"{t}.logging_steps=1",
        ]
    recipe = ROOT / "recipes" / "paper" / "qwen3-vl-8b.yaml"
    assert main(["run", str(recipe), *overrides, "--variant", "staged"]) == 0
    run = tmp_path / "runs" / "paper-qwen3-vl-8b"
    for stage in ("perception", "textual", "visual"):
        manifest = json.loads((run / "staged" / "seed0" / stage / "manifest.json").read_text())
        assert manifest["status"] == "done" and manifest["train_items"] == 3
    assert not (run / "merged").exists()  # --variant: only the named arm trains
    assert (run / "staged" / "seed0" / "eval" / "visual" / "summary.json").exists()


def test_bad_downloads_and_archives_are_named(tmp_path, hub, monkeypatch):
    from stagewise.data.paper import PAPER_DATA

    snaps, _ = hub
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PAPER_DATA, "textual", "nobody-here/no-such-data")
    assert main(["data", "pull", "paper", "--out", "a", "--stage", "textual"]) == 2  # named, one line
    per = snaps["UCSC-VLAA/VLM-CapCurriculum-Perception-Data"]
    (per / "images" / "perception_images.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    from stagewise.data.paper import pull_paper
    from stagewise.data.sources import DataError

    with pytest.raises(DataError, match=r"perception_images.tar.gz: cannot unpack the image archive"):
        pull_paper(tmp_path / "b", stages=["perception"])
    with pytest.raises(DataError, match=r"no-such-data: cannot download the dataset"):
        pull_paper(tmp_path / "c", stages=["textual"])
    (per / "images" / "perception_images.tar.gz").unlink()
    with pytest.raises(
        DataError, match=r"field 'image_path': image 'train_00000.jpg' is in neither the dataset"
    ):
        pull_paper(tmp_path / "d", stages=["perception"])
