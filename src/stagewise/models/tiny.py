"""The embedded default model: a Qwen2-VL-architecture VLM built locally from a preset config.

Nothing is downloaded: the tokenizer is trained on the world's text and the weights are randomly initialised,
then warm-started by SFT (`stagewise.train.warmstart`) into the base that the stages start from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from stagewise.models.tokenizer import CHAT_TEMPLATE, train_tokenizer
from stagewise.utils import atomic_write_json

log = logging.getLogger(__name__)

# Sizes that train in minutes on 2 CPU cores (BENCHMARKS.md, "Speed").
PRESETS: dict[str, dict] = {
    "tiny": {
        "hidden": 128,
        "layers": 4,
        "heads": 4,
        "kv_heads": 2,
        "intermediate": 512,
        "vision_depth": 2,
        "vision_dim": 64,
        "vision_heads": 4,
        "vocab": 1024,
    },
    "small": {
        "hidden": 256,
        "layers": 6,
        "heads": 4,
        "kv_heads": 2,
        "intermediate": 1024,
        "vision_depth": 3,
        "vision_dim": 128,
        "vision_heads": 4,
        "vocab": 1024,
    },
}
MIN_PIXELS, MAX_PIXELS = 56 * 56, 224 * 224


class TinyQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor without a video processor slot.

    Without torchvision, Qwen2VLProcessor's type check of the video processor fails; the tiny model never sees
    video, so this subclass passes None up and keeps everything else (image token expansion, chat template).
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


def make_processor(tokenizer) -> TinyQwen2VLProcessor:
    image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    return TinyQwen2VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )


def model_config(preset: str, tokenizer) -> Qwen2VLConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; expected one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    head_dim = p["hidden"] // p["heads"]
    # mrope sections (temporal, height, width) must sum to head_dim / 2.
    t = head_dim // 8
    hw = (head_dim // 2 - t) // 2
    mrope = [t + (head_dim // 2 - t - 2 * hw), hw, hw]
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in [
            "<|endoftext|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ]
    }
    return Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": p["hidden"],
            "intermediate_size": p["intermediate"],
            "num_hidden_layers": p["layers"],
            "num_attention_heads": p["heads"],
            "num_key_value_heads": p["kv_heads"],
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": mrope},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": p["vision_depth"],
            "embed_dim": p["vision_dim"],
            "hidden_size": p["hidden"],
            "num_heads": p["vision_heads"],
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_tiny_model(preset: str, corpus: list[str], out_dir: str | Path, seed: int = 0) -> Path:
    """Train the tokenizer, build a randomly initialised model, save model + processor to `out_dir`."""
    tokenizer = train_tokenizer(corpus, vocab_size=PRESETS.get(preset, {}).get("vocab", 1024))
    config = model_config(preset, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    gen = model.generation_config
    gen.eos_token_id = config.text_config.eos_token_id
    gen.pad_token_id = config.text_config.pad_token_id
    gen.bos_token_id = config.text_config.bos_token_id
    gen.do_sample = False
    processor = make_processor(tokenizer)
    out = Path(out_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    atomic_write_json(
        out / "stagewise_model.json",
        {"preset": preset, "parameters": n_params, "processor": "TinyQwen2VLProcessor"},
    )
    log.info("built %s model: %.2f M parameters -> %s", preset, n_params / 1e6, out)
    return out


def world_corpus(n_per_family: int = 1500, seed: int = 12345) -> list[str]:
    """Text the tiny tokenizer is trained on: world questions, traces, captions and the prompt templates.

    Templates are repeated so BPE merges them into a few tokens, as a real tokenizer would for common English.
    """
    from stagewise.data.prompts import load_prompt
    from stagewise.world.tasks import FAMILIES, generate

    corpus: list[str] = []
    for fam in FAMILIES:
        for it in generate(fam, n_per_family, seed):
            corpus += [it.question, it.trace, it.caption]
    for name in ("think_boxed", "caption"):
        corpus += [load_prompt(name)] * 200
    return corpus
