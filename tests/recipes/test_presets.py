"""Every shipped recipe loads; the paper presets carry the paper's hyperparameters and map onto TRL."""

import pytest
import yaml
from paper_presets import PAPER, ROOT, load_preset

from stagewise.memory import model_shape, stage_plan
from stagewise.train.grpo import grpo_config
from stagewise.train.plan import plan_variant


def test_there_are_three_paper_presets():
    assert [p.stem for p in PAPER] == ["internvl3-8b", "qwen2.5-vl-7b", "qwen3-vl-8b"]


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_preset_has_the_papers_hyperparameters(path, tmp_path, monkeypatch):
    recipe = load_preset(path, tmp_path, monkeypatch)
    assert set(recipe.variants) == {
        "staged",
        "merged",
        "caption_sft",
        "reversed",
        "difficulty",
        "capability_difficulty",
    }
    assert recipe.variants["reversed"].order == ["visual", "textual", "perception"]
    assert recipe.seeds == [0]
    (merged,) = plan_variant(recipe, "merged", tmp_path)  # the paper's merged baseline: 930 rollout steps
    assert merged.trainer.steps == 4 * 930 and merged.freeze_vision
    assert [s.name for s in recipe.stages] == ["perception", "textual", "visual"]
    assert [s.freeze_vision for s in recipe.stages] == [False, True, False]
    steps = [s.trainer.steps for s in recipe.stages]
    assert steps == [360, 1500, 1860] and sum(steps) == 4 * 930  # 90/375/465 rollout steps, merged 930
    for st in recipe.stages:
        t = st.trainer
        assert (t.group_size, t.prompts_per_rollout, t.prompts_per_step) == (5, 512, 128)
        assert (t.temperature, t.max_completion_length, t.weight_decay, t.loss_type) == (
            1.0,
            2048,
            0.01,
            "dapo",
        )
        damped = path.stem == "internvl3-8b" and st.name == "textual"
        if damped:
            assert (t.learning_rate, t.beta, t.clip_low, t.clip_high, t.max_grad_norm) == (
                3e-7,
                0.05,
                0.15,
                0.15,
                0.5,
            )
        else:
            assert (t.learning_rate, t.beta, t.clip_low, t.clip_high) == (1e-6, 0.01, 0.2, 0.3)
        args = grpo_config(t, tmp_path, 0, world_size=8)  # TRL accepts every value, extras included
        assert args.num_generations == 5 and args.generation_batch_size == 2560
        assert args.per_device_train_batch_size * 8 * args.gradient_accumulation_steps == 640
        assert args.lr_scheduler_type == "constant_with_warmup" and args.warmup_steps == 0
        assert args.use_vllm and args.vllm_mode == "colocate"
        assert args.delta == 3.0 and args.use_bias_correction_kl is False
        assert args.beta == t.beta and args.epsilon == t.clip_low and args.epsilon_high == t.clip_high


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_preset_fits_8_h200s_only_when_sharded(path, tmp_path, monkeypatch):
    recipe = load_preset(path, tmp_path, monkeypatch)
    shape = model_shape(recipe)  # the known-model table: nothing is downloaded
    assert 7e9 < shape.parameters < 9e9
    rows = {r["strategy"]: r for r in stage_plan(shape, recipe.stages[0], 8, gpu_memory_gib=141)}
    assert not rows["ddp"]["fits"] and rows["zero3"]["fits"] and rows["fsdp"]["fits"]


@pytest.mark.parametrize(
    "path", sorted((ROOT / "recipes").glob("*/*.yaml")), ids=lambda p: p.parent.name + "/" + p.stem
)
def test_every_recipe_file_parses(path):
    assert isinstance(yaml.safe_load(path.read_text()), dict)
