import pytest
import torch

from stagewise.models.families import vision_parameters
from stagewise.models.load import load_model_and_processor, load_processor
from stagewise.models.tiny import PRESETS, model_config
from stagewise.world.render import render
from stagewise.world.tasks import generate


def test_tiny_model_is_a_real_qwen2vl_of_the_advertised_size(tiny_model_dir):
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(processor).__name__ == "TinyQwen2VLProcessor"
    n = sum(p.numel() for p in model.parameters())
    assert 1.0e6 < n < 1.6e6
    assert sum(p.numel() for p in vision_parameters(model).values()) > 0


def test_processor_expands_a_112px_image_to_16_tokens(tiny_model_dir):
    processor = load_processor(tiny_model_dir)
    item = generate("perception", 1, 0)[0]
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": item.question}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    batch = processor(text=[text], images=[render(item.scene)], return_tensors="pt")
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((batch["input_ids"] == pad).sum()) == 16
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]]


def test_tokenizer_splits_digits_and_round_trips(tiny_model_dir):
    tok = load_processor(tiny_model_dir).tokenizer
    ids = tok("<think>12 + 345 = 357.</think> \\boxed{357}").input_ids
    pieces = tok.convert_ids_to_tokens(ids)
    assert "12" not in pieces and "357" not in pieces
    assert tok.decode(ids) == "<think>12 + 345 = 357.</think> \\boxed{357}"
    assert tok.eos_token == "<|im_end|>"


def test_generation_stops_and_is_greedy_by_default(tiny_model_dir):
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    assert model.generation_config.eos_token_id == processor.tokenizer.eos_token_id
    assert model.generation_config.do_sample is False


def test_loading_a_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        load_model_and_processor(str(tmp_path / "nope"))


def test_unknown_preset(tiny_model_dir):
    tok = load_processor(tiny_model_dir).tokenizer
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        model_config("huge", tok)
    assert set(PRESETS) >= {"tiny", "small"}


def test_saved_tokenizer_pads_left(tiny_model_dir):
    # TRL's GRPO tokenizes prompts once more with the tokenizer's default side to get mm_token_type_ids; right
    # padding there misaligns M-RoPE positions with the left-padded prompts and crashes the log-prob pass.
    import json

    assert json.loads((tiny_model_dir / "tokenizer_config.json").read_text())["padding_side"] == "left"
    assert load_processor(tiny_model_dir).tokenizer.padding_side == "left"
