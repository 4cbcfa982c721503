"""The whole recipe path on a micro budget: world -> tiny base -> 3 GRPO stages -> eval, then a rerun that
redoes nothing."""

import json
import logging

import pytest

from stagewise.cli import main


@pytest.mark.slow
def test_run_trains_each_stage_from_the_previous_and_resumes(tmp_path, micro_recipe):
    recipe = micro_recipe(tmp_path / "runs")
    assert main(["run", str(recipe)]) == 0
    run = tmp_path / "runs" / "micro"
    vdir = run / "staged" / "seed0"
    chain = {
        s: json.loads((vdir / s / "manifest.json").read_text()) for s in ("perception", "textual", "visual")
    }
    # relative to the run folder, so that a moved or copied run folder stays consistent
    assert chain["perception"]["started_from"] == "base"
    assert chain["textual"]["started_from"] == "staged/seed0/perception"
    assert chain["visual"]["started_from"] == "staged/seed0/textual"
    assert chain["textual"]["plan"]["freeze_vision"] is True
    assert chain["visual"]["compute"]["completions_generated"] == 4
    assert {"torch", "transformers", "trl"} <= set(chain["visual"]["versions"])
    assert not (vdir / "visual" / "checkpoints").exists()
    summary = json.loads((run / "eval" / "base" / "summary.json").read_text())
    assert set(summary["families"]) == {"perception", "textual", "visual"}
    for label in ("perception", "textual", "visual"):
        summary = json.loads((vdir / "eval" / label / "summary.json").read_text())
        assert set(summary["families"]) == {"perception", "textual", "visual"}
    table = (run / "results.md").read_text()
    assert all(f"staged/seed0/{name}" in table for name in ("perception", "textual", "visual"))
    grid = json.loads((run / "grid.json").read_text())
    assert list(grid["variants"]) == ["staged", "merged"] and grid["variants"]["staged"]["seeds"] == [0]
    assert grid["variants"]["staged"]["compute"]["completions_generated"]["mean"] == 12
    # merged pools image and text-only prompts into one GRPO run with the same compute
    merged = json.loads((run / "merged" / "seed0" / "merged" / "manifest.json").read_text())
    assert merged["plan"]["sources"] == ["perception", "textual", "visual"] and merged["train_items"] == 24
    assert grid["variants"]["merged"]["compute"]["completions_generated"]["mean"] == 12
    assert "merged/seed0/merged" in table
    # every trained model is compared with the base on the same items: 3 per family, 9 overall
    paired = json.loads((run / "paired.json").read_text())
    assert set(paired) == {
        "staged/seed0/perception",
        "staged/seed0/textual",
        "staged/seed0/visual",
        "merged/seed0/merged",
    }
    assert {c[f]["n"] for c in paired.values() for f in ("perception", "textual", "visual")} == {3}
    assert {c["overall"]["n"] for c in paired.values()} == {9}
    assert "overall Δ" in table and "kinds left out" in table
    assert all(
        set(c["without_collapsed"]) == {"perception", "textual", "visual", "overall"} for c in paired.values()
    )

    # every trained folder carries its Hub model card, rewritten with its results once evaluated
    from huggingface_hub import ModelCard

    card = ModelCard.load(vdir / "visual" / "README.md")
    assert card.data.model_name == "micro/staged/seed0/visual"
    visual = json.loads((vdir / "eval" / "visual" / "summary.json").read_text())["families"]["visual"]
    scored = {r.dataset_name: r.metric_value for r in card.data.eval_results}
    assert scored["stagewise world: visual (held-out test)"] == round(100 * visual["accuracy"], 2)
    assert "| textual | textual reasoning | GRPO |" in card.text and (run / "base" / "README.md").exists()
    # the warm start's SFT logs to TensorBoard too, and every model's evaluation joins its stage's curves
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert list((run / "base" / "logs").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(vdir / "visual" / "logs"))
    events.Reload()
    assert events.Scalars("eval/visual/accuracy")[-1].value == pytest.approx(100 * visual["accuracy"])
    assert (run / "logs" / "evaluation_logged.json").exists()

    stamps = {p: p.stat().st_mtime_ns for p in run.rglob("manifest.json")}
    assert main(["run", str(recipe)]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in run.rglob("manifest.json")}


def test_bad_recipe_is_one_clear_error(tmp_path, caplog):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\nstages: [{name: a, data: {families: [vision]}}]\n")
    with caplog.at_level(logging.ERROR):
        assert main(["run", str(recipe)]) == 2
    assert "bad.yaml: stages[0].data.families: unknown task family 'vision'" in caplog.text


def test_a_local_model_folder_is_a_source_like_any_other(tmp_path, tiny_model_dir):
    recipe = tmp_path / "local.yaml"
    recipe.write_text(f"""
name: local
output_dir: {tmp_path / "runs"}
world: {{train_size: 8, test_size: 2}}
model: {{source: {tiny_model_dir}}}
stages:
  - name: visual
    capability: visual_reasoning
    data: {{families: [visual], size: 4, instruction: null}}
    trainer: {{steps: 1, prompts_per_step: 2, group_size: 2, max_completion_length: 6}}
eval: {{families: [visual], size: 2, batch_size: 2, max_new_tokens: 6}}
""")
    assert main(["run", str(recipe)]) == 0
    run = tmp_path / "runs" / "local"
    manifest = json.loads((run / "staged" / "seed0" / "visual" / "manifest.json").read_text())
    assert manifest["started_from"] == str(tiny_model_dir)
    assert not (run / "init").exists() and not (run / "base").exists()
    assert json.loads((run / "data" / "world.json").read_text())["config"]["option_trace"] == "lookup"
    assert json.loads((run / "eval" / "base" / "summary.json").read_text())["overall"]["n"] == 2
