"""The memory calculator against the ZeRO paper's 16 bytes/parameter accounting, and exact parameter
counts."""

from pathlib import Path

import pytest
import torch

from stagewise.cli import main
from stagewise.config import LoRAConfig, StageConfig, TrainerConfig, load_recipe
from stagewise.memory import (
    KNOWN_MODELS,
    ModelShape,
    model_shape,
    model_state_bytes,
    shape_from_model,
    stage_plan,
    trainable_parameters,
)
from stagewise.models.families import vision_parameters
from stagewise.models.load import load_model

GB = 1e9


def total(parts):
    return sum(parts.values())


def test_one_gpu_full_finetuning_is_16_bytes_per_parameter():
    for strategy in ("ddp", "zero1", "zero2", "zero3", "fsdp"):
        parts = model_state_bytes(1000, 1000, 1, strategy)
        assert parts == {"weights": 2000, "gradients": 2000, "optimizer": 12000}


@pytest.mark.parametrize(
    "strategy, expected_gb", [("ddp", 120.0), ("zero1", 31.4), ("zero2", 16.6), ("zero3", 1.9), ("fsdp", 1.9)]
)
def test_zero_paper_figure_1_numbers(strategy, expected_gb):
    # ZeRO (Rajbhandari et al. 2020), Figure 1: 7.5 B parameters, 64 GPUs, K = 12.
    assert total(model_state_bytes(7_500_000_000, 7_500_000_000, 64, strategy)) / GB == pytest.approx(
        expected_gb, abs=0.05
    )


def test_zero_stage_formulas():
    p, n = 8e9, 8
    assert total(model_state_bytes(p, p, n, "zero1")) == pytest.approx(4 * p + 12 * p / n)
    assert total(model_state_bytes(p, p, n, "zero2")) == pytest.approx(2 * p + 14 * p / n)
    assert total(model_state_bytes(p, p, n, "zero3")) == pytest.approx(16 * p / n)


def test_frozen_parameters_cost_only_their_weights():
    parts = model_state_bytes(1000, 600, 1, "ddp")
    assert parts == {"weights": 2000, "gradients": 1200, "optimizer": 7200}


def test_counts_of_a_local_model_folder_are_exact(tiny_model_dir, tmp_path):
    model = load_model(tiny_model_dir, dtype=torch.float32)
    path = tmp_path / "r.yaml"
    path.write_text(
        f"model: {{source: {tiny_model_dir}}}\nstages:\n  - name: s\n    data: {{families: [perception]}}\n"
    )
    shape = model_shape(load_recipe(path))
    assert shape.parameters == sum(p.numel() for p in model.parameters())
    assert shape.vision == sum(p.numel() for p in vision_parameters(model).values())
    assert shape.hidden == model.config.text_config.hidden_size
    assert shape == shape_from_model(model)


def test_frozen_vision_and_lora_shrink_what_is_trained():
    shape = ModelShape(
        parameters=1000, vision=100, hidden=8, layers=2, vocab=10, lora_per_rank=50, lora_vision_per_rank=7
    )
    assert trainable_parameters(shape, StageConfig(name="a")) == 1000
    assert trainable_parameters(shape, StageConfig(name="a", freeze_vision=True)) == 900
    assert (
        trainable_parameters(shape, StageConfig(name="a", trainer=TrainerConfig(lora=LoRAConfig(r=4)))) == 200
    )
    lora_v = TrainerConfig(lora=LoRAConfig(r=4, vision=True))
    assert trainable_parameters(shape, StageConfig(name="a", trainer=lora_v)) == 228


def test_paper_model_on_8_gpus_needs_sharding():
    k = KNOWN_MODELS["Qwen/Qwen2.5-VL-7B-Instruct"]
    shape = ModelShape(
        parameters=k["parameters"],
        vision=k["vision"],
        hidden=k["hidden"],
        layers=k["layers"],
        vocab=k["vocab"],
        lora_per_rank=0,
    )
    stage = StageConfig(
        name="v",
        trainer=TrainerConfig(
            prompts_per_step=128,
            group_size=5,
            gradient_accumulation_steps=16,
            max_completion_length=2048,
            gradient_checkpointing=True,
        ),
    )
    rows = {r["strategy"]: r for r in stage_plan(shape, stage, 8)}
    assert rows["ddp"]["weights"] + rows["ddp"]["gradients"] + rows["ddp"]["optimizer"] == pytest.approx(
        16 * k["parameters"] / 1024**3
    )
    assert not rows["ddp"]["fits"] and rows["zero3"]["fits"]
    assert rows["zero3"]["total"] < rows["zero2"]["total"] < rows["zero1"]["total"] < rows["ddp"]["total"]


def test_plan_cli_prints_every_strategy(capsys):
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "tiny" / "staged.yaml"
    assert main(["plan", str(recipe), "--gpus", "4"]) == 0
    out = capsys.readouterr().out
    for strategy in ("ddp", "zero1", "zero2", "zero3", "fsdp"):
        assert strategy in out
    assert "stage textual" in out


def test_weights_are_counted_in_the_dtype_training_holds_them():
    shape = ModelShape(parameters=1000, vision=0, hidden=8, layers=1, vocab=10, lora_per_rank=0)
    stage = StageConfig(
        name="s", trainer=TrainerConfig(beta=0.01, prompts_per_step=1, group_size=2, bf16=True)
    )
    GiB = 1024**3
    fp32 = {r["strategy"]: r for r in stage_plan(shape, stage, 1, train_dtype="float32")}
    bf16 = {r["strategy"]: r for r in stage_plan(shape, stage, 1, train_dtype="bfloat16")}
    # fp32 weights under DDP/FSDP (autocast computes in bf16): 4 bytes each, and so is the reference copy
    assert fp32["ddp"]["weights"] * GiB == pytest.approx(4000) and fp32["ddp"][
        "reference"
    ] * GiB == pytest.approx(4000)
    assert bf16["ddp"]["weights"] * GiB == pytest.approx(2000) and bf16["ddp"][
        "optimizer"
    ] * GiB == pytest.approx(12000)
    # DeepSpeed with bf16 casts to bf16 and keeps fp32 masters whatever was loaded
    assert fp32["zero1"]["weights"] * GiB == pytest.approx(2000) and not fp32["ddp"]["bf16_weights"]


def test_prompt_tokens_come_from_the_data_or_its_limit(tmp_path, tiny_model_dir):
    import json

    from PIL import Image

    from stagewise.data.budget import PromptLength
    from stagewise.data.sources import load_rows, to_trl_rows
    from stagewise.memory import plan
    from stagewise.models.load import load_processor

    Image.new("RGB", (224, 224)).save(tmp_path / "a.png")
    (tmp_path / "d.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": str(i),
                    "problem": "Count the shapes. " * (1 + 10 * i),
                    "answer": "1",
                    "images": ["a.png"],
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: r
output_dir: {tmp_path}
model: {{source: {tiny_model_dir}}}
stages:
  - {{name: v, capability: visual_reasoning, data: {{paths: [{tmp_path / "d.jsonl"}], instruction: null}}}}
  - {{name: t, capability: visual_reasoning, data: {{paths: [{tmp_path / "d.jsonl"}], \
max_prompt_tokens: 300}}}}
""")
    r = load_recipe(recipe)
    out = plan(r, 1)
    rows = to_trl_rows(load_rows(tmp_path / "d.jsonl", decode=False), instruction=None)
    longest = max(PromptLength(load_processor(tiny_model_dir))(x) for x in rows)
    assert out["prompt_tokens"]["v"]["tokens"] == longest > 64  # 64 image tokens plus the longest text
    assert out["prompt_tokens"]["t"] == {"tokens": 300, "from": "data.max_prompt_tokens"}
    assert out["stages"]["v"][0]["seq_len"] == longest + r.stages[0].trainer.max_completion_length
    assert plan(r, 1, prompt_tokens=50)["prompt_tokens"]["v"] == {"tokens": 50, "from": "given"}
