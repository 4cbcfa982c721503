"""End to end with the tiny model: benchmark-shaped local data with generated images, resumed after a kill."""

import json

import datasets

from stagewise.cli import main


def test_tiny_model_on_a_benchmark_shaped_dataset_resumes(tiny_model_dir, mathvista_like, tmp_path):
    out = tmp_path / "ev"
    args = [
        "eval",
        "run",
        str(tiny_model_dir),
        "--bench",
        "mathvista",
        "--data",
        str(mathvista_like),
        "--out",
        str(out),
        "--max-new-tokens",
        "6",
        "--batch-size",
        "3",
        "--instruction",
        "think_boxed",
    ]
    assert main(args) == 0
    lines = (out / "items.jsonl").read_text().splitlines()
    items = [json.loads(x) for x in lines]
    assert sorted(i["id"] for i in items) == ["1", "2", "3", "4"]
    for i in items:
        assert {"id", "response", "extracted", "correct", "response_tokens", "think_tokens"} <= set(i)
        assert 0 < i["response_tokens"] <= 6 and isinstance(i["correct"], bool)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["average"]["total"] == 4 and set(metrics["question_type"]) == {"multi_choice", "free_form"}
    assert metrics["run"]["instruction"] == "think_boxed" and metrics["run"]["backend"] == "transformers"
    assert metrics["run"]["mean_response_tokens"] > 0
    # A kill mid-write: two items lost, the last line torn. The rerun redoes just those and agrees.
    (out / "items.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:15])
    (out / "metrics.json").unlink()
    assert main(args) == 0
    again = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    assert len(again) == 4 and {i["id"]: i["response"] for i in again} == {
        i["id"]: i["response"] for i in items
    }
    # Resuming with other settings would mix two setups in one items.jsonl.
    assert main(args[:-1] + [""]) == 2
    # Scoring the run's own items without the model gives the same metrics.
    assert (
        main(
            [
                "eval",
                "score",
                str(out / "items.jsonl"),
                "--bench",
                "mathvista",
                "--data",
                str(mathvista_like),
                "--out",
                str(tmp_path / "rescored"),
            ]
        )
        == 0
    )
    rescored = json.loads((tmp_path / "rescored" / "metrics.json").read_text())
    assert rescored["average"] == json.loads((out / "metrics.json").read_text())["average"]


def test_tiny_model_on_an_hf_dataset_folder_with_embedded_images(tiny_model_dir, tmp_path, make_image):
    """MMStar-shaped rows with PIL images in a saved HF dataset, and --limit."""
    rows = [
        {
            "index": i,
            "question": f"How many circles? Options: A: {i}, B: {i + 1}",
            "answer": "A",
            "category": "counting",
            "l2_category": "count",
            "image": make_image(i + 1),
        }
        for i in range(3)
    ]
    ds = datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "mmstar"))
    out = tmp_path / "o"
    assert (
        main(
            [
                "eval",
                "run",
                str(tiny_model_dir),
                "--bench",
                "mmstar",
                "--data",
                str(tmp_path / "mmstar"),
                "--out",
                str(out),
                "--limit",
                "2",
                "--max-new-tokens",
                "4",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["overall"]["total"] == 2 and set(metrics["categories"]) == {"counting"}


def test_missing_image_files_are_a_clear_error(tiny_model_dir, mathvista_like, tmp_path, caplog):
    (mathvista_like.parent / "images" / "1.png").unlink()
    assert (
        main(
            [
                "eval",
                "run",
                str(tiny_model_dir),
                "--bench",
                "mathvista",
                "--data",
                str(mathvista_like),
                "--out",
                str(tmp_path / "o"),
                "--max-new-tokens",
                "2",
            ]
        )
        == 2
    )
    assert "image file not found" in caplog.text and "1.png" in caplog.text
