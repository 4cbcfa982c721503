"""Processors of every family, loadable on a machine without torchvision.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL, InternVL, SmolVLM2 and LLaVA-OneVision processors have a video-processor slot.
transformers' video processors need torchvision, which does not import beside the CPU torch stagewise installs
(../shared/NOTES.md): building such a processor fails (`VIDEO_PROCESSOR_MAPPING ... _extra_content`, from the
slot's type check) and loading a saved one fails ("Can't load video processor"). stagewise never feeds video,
so each family gets a subclass whose `__init__` has no `video_processor` parameter: transformers derives a
processor's parts from its `__init__` signature, so the subclass builds, saves and loads with the image
processor and tokenizer alone, and keeps the family's own image-token expansion. The folder it saves names the
family's real class (`processor_class`), so on a machine with torchvision (vLLM, a GPU node) `AutoProcessor`
loads it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from transformers import (
    InternVLProcessor,
    LlavaOnevisionProcessor,
    Qwen2_5_VLProcessor,
    Qwen2VLProcessor,
    Qwen3VLProcessor,
    SmolVLMProcessor,
)

log = logging.getLogger(__name__)


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor without its video slot (module docstring)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2_5_VLProcessor without its video slot (module docstring)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


class Qwen3VLImageOnlyProcessor(Qwen3VLProcessor):
    """Qwen3VLProcessor without its video slot (module docstring)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


class InternVLImageOnlyProcessor(InternVLProcessor):
    """InternVLProcessor without its video slot (module docstring)."""

    def __init__(
        self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None, **kwargs
    ):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            image_seq_length=image_seq_length,
            chat_template=chat_template,
            **kwargs,
        )


class SmolVLMImageOnlyProcessor(SmolVLMProcessor):
    """SmolVLMProcessor without its video slot (module docstring)."""

    def __init__(self, image_processor, tokenizer, image_seq_len: int = 169, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor,
            tokenizer,
            None,
            image_seq_len=image_seq_len,
            chat_template=chat_template,
            **kwargs,
        )


class LlavaOnevisionImageOnlyProcessor(LlavaOnevisionProcessor):
    """LlavaOnevisionProcessor without its video slot (module docstring)."""

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        num_image_tokens=None,
        vision_feature_select_strategy=None,
        chat_template=None,
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio="anyres_max_9",
        **kwargs,
    ):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            num_image_tokens=num_image_tokens,
            vision_feature_select_strategy=vision_feature_select_strategy,
            chat_template=chat_template,
            image_token=image_token,
            video_token=video_token,
            vision_aspect_ratio=vision_aspect_ratio,
            **kwargs,
        )


IMAGE_ONLY: dict[str, type] = {
    "qwen2_vl": Qwen2VLImageOnlyProcessor,
    "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor,
    "qwen3_vl": Qwen3VLImageOnlyProcessor,
    "internvl": InternVLImageOnlyProcessor,
    "smolvlm": SmolVLMImageOnlyProcessor,
    "llava_onevision": LlavaOnevisionImageOnlyProcessor,
}
"""model_type -> the processor without a video slot, for the families whose processor has one."""

REAL_CLASS = {cls.__name__: cls.__mro__[1].__name__ for cls in IMAGE_ONLY.values()}
"""Image-only class name -> the family's transformers class name, which saved folders record."""


def torchvision_available() -> bool:
    """Whether torchvision imports (its mere presence can break: NOTES.md; found is enough to try the normal
    path)."""
    return importlib.util.find_spec("torchvision") is not None


def needs_image_only(model_type: str | None) -> bool:
    """Whether this family's processor must be loaded without its video slot here."""
    return model_type in IMAGE_ONLY and not torchvision_available()


def save_processor(processor, out_dir: str | Path) -> None:
    """`processor.save_pretrained`, recording the family's real class so the folder is an ordinary HF
    folder."""
    processor.save_pretrained(str(out_dir))
    cfg = Path(out_dir) / "processor_config.json"
    real = REAL_CLASS.get(type(processor).__name__)
    if real and cfg.exists():
        data = json.loads(cfg.read_text())
        data["processor_class"] = real
        cfg.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
