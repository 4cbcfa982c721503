"""The image and prompt budget: images fitted into [min_pixels, max_pixels] as EasyR1 does, prompt tokens
counted as the processor renders them, overlong rows dropped and counted."""

import json
import logging

import pytest
from PIL import Image

from stagewise.data.budget import PromptLength, drop_overlong, fit_pixels, fitted_size
from stagewise.data.sources import load_rows, to_trl_rows


def test_fitted_size_keeps_the_aspect_within_the_bounds():
    assert fitted_size(2048, 2048, 262144, 4194304) == (2048, 2048)
    w, h = fitted_size(4000, 3000, 262144, 4194304)
    assert w * h <= 4194304 and abs(w / h - 4 / 3) < 0.01 and w * h > 0.99 * 4194304
    w, h = fitted_size(100, 50, 262144, None)
    assert w * h >= 0.99 * 262144 and abs(w / h - 2) < 0.05
    assert fitted_size(100, 50, None, None) == (100, 50)
    assert fit_pixels(Image.new("RGB", (400, 300)), None, 30000).size == (200, 150)


def _rows(tmp_path, sizes):
    for i, size in enumerate(sizes):
        Image.new("RGB", size, "red").save(tmp_path / f"{i}.png")
    lines = [
        json.dumps(
            {
                "id": str(i),
                "problem": "How many shapes? " * (1 + 20 * i),
                "answer": "1",
                "images": [f"{i}.png"],
                "family": "f",
            }
        )
        for i in range(len(sizes))
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    return to_trl_rows(load_rows(tmp_path / "d.jsonl", decode=False), instruction=None)


def test_prompt_length_is_what_the_processor_renders(tmp_path, tiny_model_dir):
    from stagewise.models.load import load_processor

    processor = load_processor(tiny_model_dir)
    rows = _rows(tmp_path, [(112, 112), (224, 224), (56, 300)])
    length = PromptLength(processor)
    for r in rows:
        content = [{"type": "image"}, {"type": "text", "text": r["prompt"][-1]["content"]}]
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
        image = Image.open(r["images"][0]["path"]).convert("RGB")
        real = processor(text=[text], images=[image], return_tensors="np")["input_ids"][0]
        assert length(r) == len(real)
    # fitted first: the 224x224 image (64 image tokens) under max_pixels 112*112 counts as 112x112 (16 tokens)
    assert PromptLength(processor, max_pixels=112 * 112)(rows[1]) == length(rows[1]) - 48


def test_overlong_rows_are_dropped_and_counted(tmp_path, tiny_model_dir, caplog):
    from stagewise.models.load import load_processor

    rows = _rows(tmp_path, [(112, 112), (112, 112), (112, 112)])
    length = PromptLength(load_processor(tiny_model_dir))
    limit = length(rows[1])
    with caplog.at_level(logging.WARNING):
        kept = drop_overlong(rows, length, limit, "visual")
    assert [r["id"] for r in kept] == ["0", "1"]
    assert "dropped 1 of 3 rows of f" in caplog.text
    with pytest.raises(ValueError, match="every row of f has a prompt over data.max_prompt_tokens=5"):
        drop_overlong(rows, length, 5, "visual")
    assert drop_overlong(rows, length, None, "visual") is rows


def test_the_trainer_fits_images_before_the_processor(monkeypatch):
    from trl import GRPOTrainer

    from stagewise.train.grpo import StageGRPOTrainer

    seen = []
    monkeypatch.setattr(
        GRPOTrainer, "_generate_and_score_completions", lambda self, inputs: seen.extend(inputs)
    )
    trainer = StageGRPOTrainer.__new__(StageGRPOTrainer)  # the method alone: no model needed
    trainer.pixels = (None, 100 * 100)
    trainer._generate_and_score_completions(
        [{"images": [Image.new("RGB", (400, 400))]}, {"images": []}, {"prompt": "text only"}]
    )
    assert (
        seen[0]["images"][0].size == (100, 100)
        and seen[1] == {"images": []}
        and seen[2] == {"prompt": "text only"}
    )


def test_a_run_drops_overlong_rows_before_training(tmp_path, tiny_model_dir):
    from stagewise.cli import main

    _rows(tmp_path, [(112, 112), (112, 112), (112, 112)])  # problem texts of about 4, 84 and 164 tokens
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: r
output_dir: {tmp_path / "runs"}
model: {{source: {tiny_model_dir}, max_pixels: 12544}}
stages:
  - name: visual
    capability: visual_reasoning
    data: {{paths: [{tmp_path / "d.jsonl"}], instruction: null, max_prompt_tokens: 150}}
    trainer: {{steps: 1, prompts_per_step: 2, group_size: 2, max_completion_length: 4}}
eval: {{families: [visual], size: 2, max_new_tokens: 4}}
world: {{train_size: 4, test_size: 2}}
""")
    assert main(["run", str(recipe)]) == 0
    manifest = json.loads(
        (tmp_path / "runs" / "r" / "staged" / "seed0" / "visual" / "manifest.json").read_text()
    )
    assert manifest["train_items"] == 2
