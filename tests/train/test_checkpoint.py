"""A resumed stage starts from its checkpoint's weights, for every VLM architecture stagewise trains, and a
checkpoint whose weights do not all load is refused (transformers' own resume loads non-strictly, and for most
architectures saves keys in a layout its load does not convert back: nothing loads, silently)."""

import json

import pytest
import safetensors.torch
import torch
import transformers as T

from stagewise.train.checkpoint import CheckpointError, load_checkpoint_weights

TEXT = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=320,
    head_dim=16,
)
MROPE = {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]}}
SIGLIP = {
    "model_type": "siglip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 28,
    "patch_size": 14,
}
SMALL_VIT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}

# Tiny configs of each architecture family (random weights, built here: nothing is downloaded).
CONFIGS = {
    "qwen2_vl": lambda: T.Qwen2VLConfig(
        text_config={**TEXT, **MROPE},
        vision_config=dict(depth=1, embed_dim=32, num_heads=2, mlp_ratio=2, hidden_size=64),
    ),
    "qwen2_5_vl": lambda: T.Qwen2_5_VLConfig(
        text_config={**TEXT, **MROPE},
        vision_config=dict(
            depth=1,
            hidden_size=32,
            num_heads=2,
            intermediate_size=64,
            out_hidden_size=64,
            fullatt_block_indexes=[0],
        ),
    ),
    "qwen3_vl": lambda: T.Qwen3VLConfig(
        text_config={**TEXT, **MROPE},
        vision_config=dict(
            depth=1,
            hidden_size=32,
            num_heads=2,
            intermediate_size=64,
            out_hidden_size=64,
            deepstack_visual_indexes=[0],
            num_position_embeddings=64,
        ),
    ),
    "llava_onevision": lambda: T.LlavaOnevisionConfig(
        text_config={"model_type": "qwen2", **TEXT}, vision_config=SIGLIP
    ),
    "llava": lambda: T.LlavaConfig(
        text_config={"model_type": "llama", **TEXT},
        vision_config={
            "model_type": "clip_vision_model",
            **SMALL_VIT,
            "image_size": 28,
            "patch_size": 14,
            "projection_dim": 32,
        },
    ),
    "internvl": lambda: T.InternVLConfig(
        text_config={"model_type": "qwen2", **TEXT},
        vision_config={**SMALL_VIT, "image_size": [28, 28], "patch_size": [14, 14]},
    ),
    "gemma3": lambda: T.Gemma3Config(
        text_config={**TEXT, "model_type": "gemma3_text"}, vision_config=SIGLIP, mm_tokens_per_image=4
    ),
    "idefics3": lambda: T.Idefics3Config(
        text_config={"model_type": "llama", **TEXT},
        vision_config={**SMALL_VIT, "image_size": 28, "patch_size": 14},
        scale_factor=1,
    ),
}


def _model(name: str, seed: int):
    torch.manual_seed(seed)
    return T.AutoModelForImageTextToText.from_config(CONFIGS[name]())


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_resume_loads_every_weight_of_the_checkpoint(arch, tmp_path):
    trained, fresh = _model(arch, 0), _model(arch, 1)
    trained.save_pretrained(tmp_path)  # what the Trainer writes into checkpoint-N
    assert not _same(trained, fresh)
    load_checkpoint_weights(fresh, tmp_path)
    assert _same(trained, fresh)


def test_sharded_checkpoints_load_too(tmp_path):
    trained, fresh = _model("qwen2_vl", 0), _model("qwen2_vl", 1)
    trained.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    load_checkpoint_weights(fresh, tmp_path)
    assert _same(trained, fresh)


def test_transformers_own_load_of_such_a_checkpoint_loads_nothing(tmp_path):
    """Why the fix exists (if transformers fixes this upstream, this test says so)."""
    trained, fresh = _model("qwen2_vl", 0), _model("qwen2_vl", 1)
    trained.save_pretrained(tmp_path)
    result = fresh.load_state_dict(safetensors.torch.load_file(tmp_path / "model.safetensors"), strict=False)
    assert len(result.missing_keys) > 40


def test_a_checkpoint_missing_weights_is_refused_by_name(tmp_path):
    trained, fresh = _model("qwen2_vl", 0), _model("qwen2_vl", 1)
    trained.save_pretrained(tmp_path)
    sd = safetensors.torch.load_file(tmp_path / "model.safetensors")
    dropped = sorted(sd)[3]
    del sd[dropped]
    safetensors.torch.save_file(sd, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="missing from the checkpoint") as e:
        load_checkpoint_weights(fresh, tmp_path)
    assert str(tmp_path) in str(e.value)


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    _model("qwen2_vl", 0).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    other = CONFIGS["qwen2_vl"]()
    other.text_config.intermediate_size = 96
    fresh = T.AutoModelForImageTextToText.from_config(other)
    assert cfg["text_config"]["intermediate_size"] == 128
    with pytest.raises(CheckpointError, match="another shape"):
        load_checkpoint_weights(fresh, tmp_path)


def test_a_resumed_grpo_stage_holds_the_checkpoints_weights(tmp_path, tiny_model_dir):
    """The trainer-level property: resuming a finished checkpoint trains no step, so the saved model must be
    exactly the checkpoint's weights (before the fix: the stage's starting weights)."""
    from stagewise.config import TrainerConfig
    from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
    from stagewise.models.load import load_model_and_processor
    from stagewise.train.grpo import run_grpo
    from stagewise.world.build import build_world

    world = build_world(tmp_path / "w", ["perception"], {"train": 4}, seed=0)
    rows = to_trl_rows(load_rows(world / "perception" / "train"), instruction=None)
    cfg = TrainerConfig(
        steps=2,
        save_steps=2,
        prompts_per_step=2,
        group_size=2,
        max_completion_length=8,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
    )
    start, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    run_grpo(start, processor, to_dataset(rows), tmp_path / "first", cfg)
    ckpt = tmp_path / "first" / "checkpoints" / "checkpoint-2"
    trained = T.AutoModelForImageTextToText.from_pretrained(ckpt)
    untouched, _ = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    assert not _same(trained, untouched), "training changed nothing: the test could not tell"

    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    run_grpo(model, processor, to_dataset(rows), tmp_path / "resumed", cfg, resume=str(ckpt))
    assert _same(model, trained)
