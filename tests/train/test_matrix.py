"""The architecture matrix: a tiny random-weight model of every family stagewise claims, built locally with
its processor and chat template (no torchvision, nothing downloaded), goes through `stagewise run`: a
perception stage with `trainer.trainable: vision`, a textual stage with `freeze_vision: true`, and the
evaluation of the base and both stages. Each switch must freeze exactly the family's vision tower and
projector (the names below are written out here, independently of stagewise.models.families), checked on the
saved weights: what changed is what was meant to train."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from vision_sides import VISION

from stagewise.cli import main
from stagewise.models.tiny_families import FAMILY_NAMES, build_family_model


def two_stages(family: str, model) -> dict:
    """The micro recipe from the family's model folder: a vision-only perception stage, then a textual stage
    with the vision tower frozen."""
    trainer = {
        "steps": 1,
        "prompts_per_step": 2,
        "group_size": 2,
        "max_completion_length": 6,
        "learning_rate": 1.0e-3,
        "report_to": "none",
        "logging_steps": 1,
    }
    return {
        "name": family,
        "world": {"train_size": 4, "test_size": 2},
        "model": {"source": str(model)},
        "stages": [
            {
                "name": "perception",
                "capability": "perception",
                "data": {"families": ["perception"], "size": 4},
                "trainer": {**trainer, "trainable": "vision"},
            },
            {
                "name": "textual",
                "capability": "textual_reasoning",
                "data": {"families": ["textual"], "size": 4},
                "trainer": trainer,
                "freeze_vision": True,
            },
        ],
        "variants": {},
        "eval": {"size": 2, "batch_size": 2, "max_new_tokens": 6},
    }


def _is_vision(family: str, name: str) -> bool:
    return name.startswith(VISION[family])


def _weights(folder) -> dict[str, torch.Tensor]:
    import transformers as T

    model = T.AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_every_family_is_listed():
    assert set(VISION) == set(FAMILY_NAMES)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_trains_two_stages_and_evaluates(family, tmp_path, caplog, micro_recipe):
    model_dir = build_family_model(family, tmp_path / "model")
    # the folder is an ordinary HF folder: the family's real processor class is recorded
    assert "ImageOnly" not in json.loads((model_dir / "processor_config.json").read_text())["processor_class"]
    recipe = micro_recipe(tmp_path / "runs", two_stages(family, model_dir), file="r.yaml")
    with caplog.at_level(logging.INFO, logger="stagewise"):
        assert main(["run", str(recipe)]) == 0
    run = tmp_path / "runs" / family
    start = _weights(model_dir)
    vision = {n for n in start if _is_vision(family, n)}
    assert vision and vision != set(start)
    n_vision = sum(start[n].numel() for n in vision)
    # tied embeddings are one parameter in the model (and in the manifest's counts)
    n_all = sum(p.numel() for p in {id(p): p for p in _model_params(model_dir)}.values())

    stages = {}
    for stage in ("perception", "textual"):
        manifest = json.loads((run / "staged" / "seed0" / stage / "manifest.json").read_text())
        stages[stage] = manifest["parameters"]
        after = _weights(run / "staged" / "seed0" / stage)
        before = start if stage == "perception" else _weights(run / "staged" / "seed0" / "perception")
        changed = {n for n in after if not torch.equal(after[n], before[n])}
        saved = json.loads((run / "staged" / "seed0" / stage / "processor_config.json").read_text())
        assert "ImageOnly" not in saved["processor_class"]
        assert changed, f"{family} {stage}: no weight changed"
        if stage == "perception":  # trainable: vision
            assert changed <= vision, f"{family}: language weights changed: {sorted(changed - vision)[:3]}"
        else:  # freeze_vision
            assert not changed & vision, f"{family}: vision weights changed: {sorted(changed & vision)[:3]}"
    assert stages["perception"] == {"total": n_all, "trainable": n_vision, "frozen": n_all - n_vision}
    assert stages["textual"] == {"total": n_all, "trainable": n_all - n_vision, "frozen": n_vision}
    assert any("freeze_vision: froze" in r.message for r in caplog.records)  # the counts are logged
    for label in ("base", "staged/seed0/perception", "staged/seed0/textual"):
        folder = (
            run / "eval" / "base"
            if label == "base"
            else run / "staged" / "seed0" / "eval" / label.split("/")[-1]
        )
        summary = json.loads((folder / "summary.json").read_text())
        assert set(summary["families"]) == {"perception", "textual", "visual"}
        assert summary["overall"]["n"] == 6  # 2 test items of each family, each answered
    assert "staged/seed0/textual" in (run / "results.md").read_text()


def _model_params(folder):
    import transformers as T

    return list(T.AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).parameters())
