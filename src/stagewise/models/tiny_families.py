"""Tiny random-weight models of every family stagewise trains, built locally: the architecture matrix.

Each is the family's real `...ForConditionalGeneration` class at a few hundred thousand parameters, saved as
an ordinary HF folder with its processor (the family's own image processor, PIL backend: no torchvision), a
byte-level BPE tokenizer trained on the world's text with the family's special tokens, and a chat template
that inserts the family's own image placeholder. Nothing is downloaded. Tests run each through a staged run
(tests/train/test_matrix.py); `stagewise model --family NAME` builds one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import transformers as T
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from stagewise.models import processors as P
from stagewise.utils import atomic_write_json

log = logging.getLogger(__name__)

# Every family's chat turns are Qwen-style (<|im_start|>role ... <|im_end|>), so one template serves all with
# the image placeholder swapped in: the part each family's processor expands into its image tokens.
_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}PLACEHOLDER"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHAT_TURN_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

TEXT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "head_dim": 16,
    "max_position_embeddings": 2048,
}
"""The language model of every tiny family (head_dim / 2 = 8 = the Qwen mrope sections below)."""
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
QWEN_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
IDEFICS3_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"] + [
    f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)
]

FAMILY_NAMES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl", "gemma3", "idefics3", "llava_onevision")
"""The families `build_family_model` builds (config.json model types)."""


def train_family_tokenizer(
    corpus: list[str], specials: list[str], named: dict[str, str] | None = None, vocab_size: int = 512
) -> PreTrainedTokenizerFast:
    """A byte-level BPE on `corpus` with the chat-turn tokens and the family's `specials`; `named` are the
    family's model-specific tokens (`{"boi_token": "<start_of_image>"}`), which its processor reads as
    tokenizer attributes (`tokenizer.boi_token`, `tokenizer.boi_token_id`)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    all_specials = list(dict.fromkeys(CHAT_TURN_TOKENS + specials))
    tok.train_from_iterator(
        corpus,
        trainer=trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=all_specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    extra: list[str] | dict[str, str] = dict(named) if named else all_specials[1:]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=extra,
        padding_side="left",
    )
    return fast


def _ids(tok, *names: str) -> list[int]:
    return [tok.convert_tokens_to_ids(n) for n in names]


def _text(tok, **more) -> dict:
    eos, pad = _ids(tok, "<|im_end|>", "<|endoftext|>")
    return {
        **TEXT,
        "vocab_size": len(tok),
        "eos_token_id": eos,
        "pad_token_id": pad,
        "bos_token_id": pad,
        **more,
    }


def _qwen2_vl(corpus):
    tok = train_family_tokenizer(corpus, QWEN_TOKENS)
    img, vid, vs, ve = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    config = T.Qwen2VLConfig(
        text_config=_text(tok, **MROPE),
        vision_config=dict(
            depth=1,
            embed_dim=32,
            num_heads=2,
            mlp_ratio=2,
            hidden_size=64,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=img,
        video_token_id=vid,
        vision_start_token_id=vs,
        vision_end_token_id=ve,
    )
    image_processor = _qwen_image_processor(14)
    return config, P.Qwen2VLImageOnlyProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", QWEN_PLACEHOLDER),
    )


def _qwen_image_processor(patch: int):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    # 56x56 to 112x112 pixels: at most 8x8 patches of 14 px, merged 2x2 into 16 image tokens
    side = 4 * patch
    return Qwen2VLImageProcessorPil(
        min_pixels=side * side,
        max_pixels=4 * side * side,
        patch_size=patch,
        merge_size=2,
        temporal_patch_size=2,
    )


def _qwen2_5_vl(corpus):
    tok = train_family_tokenizer(corpus, QWEN_TOKENS)
    img, vid, vs, ve = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    config = T.Qwen2_5_VLConfig(
        text_config=_text(tok, **MROPE),
        vision_config=dict(
            depth=1,
            hidden_size=32,
            num_heads=2,
            intermediate_size=64,
            out_hidden_size=64,
            fullatt_block_indexes=[0],
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
        ),
        image_token_id=img,
        video_token_id=vid,
        vision_start_token_id=vs,
        vision_end_token_id=ve,
    )
    return config, P.Qwen2_5_VLImageOnlyProcessor(
        image_processor=_qwen_image_processor(14),
        tokenizer=tok,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", QWEN_PLACEHOLDER),
    )


def _qwen3_vl(corpus):
    tok = train_family_tokenizer(corpus, QWEN_TOKENS)
    img, vid, vs, ve = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    config = T.Qwen3VLConfig(
        text_config=_text(tok, **MROPE),
        vision_config=dict(
            depth=1,
            hidden_size=32,
            num_heads=2,
            intermediate_size=64,
            out_hidden_size=64,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            deepstack_visual_indexes=[0],
            num_position_embeddings=64,
        ),
        image_token_id=img,
        video_token_id=vid,
        vision_start_token_id=vs,
        vision_end_token_id=ve,
    )
    return config, P.Qwen3VLImageOnlyProcessor(
        image_processor=_qwen_image_processor(16),
        tokenizer=tok,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", QWEN_PLACEHOLDER),
    )


def _internvl(corpus):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    named = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tok = train_family_tokenizer(corpus, list(named.values()), named)
    (img,) = _ids(tok, "<IMG_CONTEXT>")
    # 56 px tiles of 14 px patches, pixel-shuffled at 0.5: 4 image tokens a tile; one tile per image
    config = T.InternVLConfig(
        text_config={"model_type": "qwen2", **_text(tok)},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": [56, 56],
            "patch_size": [14, 14],
        },
        image_token_id=img,
        downsample_ratio=0.5,
    )
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": 56, "width": 56}, crop_to_patches=False, max_patches=1
    )
    return config, P.InternVLImageOnlyProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=4,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", "<IMG_CONTEXT>"),
    )


def _gemma3(corpus):
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    named = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tok = train_family_tokenizer(corpus, list(named.values()), named)
    img, boi, eoi = _ids(tok, "<image_soft_token>", "<start_of_image>", "<end_of_image>")
    config = T.Gemma3Config(
        text_config={**_text(tok), "model_type": "gemma3_text"},
        vision_config=SIGLIP,
        mm_tokens_per_image=4,
        image_token_index=img,
        boi_token_index=boi,
        eoi_token_index=eoi,
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": 28, "width": 28})
    return config, T.Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=4,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", "<start_of_image>"),
    )


def _idefics3(corpus):
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tok = train_family_tokenizer(corpus, IDEFICS3_TOKENS)
    (img,) = _ids(tok, "<image>")
    config = T.Idefics3Config(
        text_config={"model_type": "llama", **_text(tok)},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        },
        scale_factor=1,
        image_token_id=img,
    )
    # One 28 px image, no tiling: 2x2 patches, 4 image tokens
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": 28}, max_image_size={"longest_edge": 28}
    )
    return config, T.Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_len=4,
        chat_template=_TEMPLATE.replace("PLACEHOLDER", "<image>"),
    )


def _llava_onevision(corpus):
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    tok = train_family_tokenizer(corpus, ["<image>", "<video>"])
    img, vid = _ids(tok, "<image>", "<video>")
    config = T.LlavaOnevisionConfig(
        text_config={"model_type": "qwen2", **_text(tok)},
        vision_config=SIGLIP,
        image_grid_pinpoints=[[28, 28]],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_token_index=img,
        video_token_index=vid,
    )
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": 28, "width": 28}, image_grid_pinpoints=[[28, 28]]
    )
    return config, P.LlavaOnevisionImageOnlyProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        num_image_tokens=4,
        vision_feature_select_strategy="full",
        chat_template=_TEMPLATE.replace("PLACEHOLDER", "<image>"),
    )


_BUILDERS = {
    "qwen2_vl": _qwen2_vl,
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen3_vl": _qwen3_vl,
    "internvl": _internvl,
    "gemma3": _gemma3,
    "idefics3": _idefics3,
    "llava_onevision": _llava_onevision,
}


def build_family_model(
    family: str, out_dir: str | Path, corpus: list[str] | None = None, seed: int = 0
) -> Path:
    """Build the tiny model of `family` (one of FAMILY_NAMES) with its processor into `out_dir`."""
    if family not in _BUILDERS:
        raise ValueError(f"no tiny model for family {family!r}; expected one of {', '.join(FAMILY_NAMES)}")
    if corpus is None:
        from stagewise.models.tiny import world_corpus

        corpus = world_corpus(100)
    config, processor = _BUILDERS[family](corpus)
    torch.manual_seed(seed)
    model = T.AutoModelForImageTextToText.from_config(config)
    tok = processor.tokenizer
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = _ids(
        tok, "<|im_end|>", "<|endoftext|>", "<|endoftext|>"
    )
    gen.do_sample = False
    out = Path(out_dir)
    model.save_pretrained(out)
    P.save_processor(processor, out)
    n = sum(p.numel() for p in model.parameters())
    atomic_write_json(out / "stagewise_model.json", {"family": family, "parameters": n})
    log.info("built tiny %s: %d parameters -> %s", family, n, out)
    return out
