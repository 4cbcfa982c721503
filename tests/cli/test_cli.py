import json

from stagewise.cli import main


def test_world_then_eval_from_the_command_line(tmp_path, tiny_model_dir):
    world = tmp_path / "world"
    assert (
        main(
            [
                "world",
                "--out",
                str(world),
                "--train-size",
                "3",
                "--test-size",
                "2",
                "--families",
                "perception",
                "textual",
            ]
        )
        == 0
    )
    assert (world / "perception" / "test.jsonl").exists() and not (world / "visual").exists()
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "run",
                str(tiny_model_dir),
                "--bench",
                "world",
                "--data",
                str(world),
                "--out",
                str(out),
                "--subset",
                "perception,textual",
                "--max-new-tokens",
                "4",
                "--instruction",
                "",
            ]
        )
        == 0
    )
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["overall"]["n"] == 4 and set(summary["families"]) == {"perception", "textual"}


def test_check_prints_the_resolved_recipe(capsys):
    assert main(["check", "recipes/tiny/staged.yaml", "stages.visual.trainer.steps=7"]) == 0
    text = capsys.readouterr().out
    assert "steps: 7" in text and "name: tiny-staged" in text


def test_missing_model_folder_is_a_clear_error(tmp_path, world_dir, caplog):
    assert (
        main(
            [
                "eval",
                "run",
                str(tmp_path / "nope"),
                "--bench",
                "world",
                "--data",
                str(world_dir),
                "--out",
                str(tmp_path / "o"),
                "--subset",
                "textual",
            ]
        )
        == 2
    )
    assert "model folder not found" in caplog.text


def test_eval_score_world_on_a_prediction_file(tmp_path, world_dir, capsys):
    """Prediction files carry text, not token counts: the table says n/a rather than failing."""
    rows = [json.loads(x) for x in (world_dir / "perception" / "test.jsonl").read_text().splitlines()]
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"id": r["id"], "response": f"<think>.</think> \\boxed{{{r['answer']}}}"}) + "\n"
            for r in rows
        )
    )
    out = tmp_path / "scored"
    assert (
        main(
            [
                "eval",
                "score",
                str(preds),
                "--bench",
                "world",
                "--data",
                str(world_dir),
                "--subset",
                "perception",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["overall"]["n"] == len(rows) and metrics["overall"]["accuracy"] == 1.0
    assert "n/a" in capsys.readouterr().out
