"""Load any VLM (hub id or local folder) with its processor; the tiny model goes through the same call."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

log = logging.getLogger(__name__)


def _saved_processor_class(path: Path) -> str | None:
    cfg = path / "processor_config.json"
    return json.loads(cfg.read_text()).get("processor_class") if cfg.exists() else None


def load_processor(name_or_path: str | Path):
    path = Path(name_or_path)
    if _saved_processor_class(path) == "TinyQwen2VLProcessor":
        from stagewise.models.tiny import TinyQwen2VLProcessor

        # AutoProcessor would silently return only the tokenizer for this folder (and drop the images).
        processor = TinyQwen2VLProcessor.from_pretrained(str(path))
        # Folders saved before padding_side was stored default to right padding, which misaligns TRL's
        # mm_token_type_ids with its left-padded prompts in GRPO.
        processor.tokenizer.padding_side = "left"
        return processor
    processor = AutoProcessor.from_pretrained(str(name_or_path))
    if not hasattr(processor, "image_processor"):
        raise ValueError(f"{name_or_path}: AutoProcessor returned {type(processor).__name__}, which has no image "
                         "processor; images would be silently dropped")
    return processor


def load_model(name_or_path: str | Path, dtype: torch.dtype | str = "auto", **kwargs):
    return AutoModelForImageTextToText.from_pretrained(str(name_or_path), dtype=dtype, **kwargs)


def load_model_and_processor(name_or_path: str | Path, dtype: torch.dtype | str = "auto", **kwargs):
    """A hub id or a local path; local paths must exist (no silent hub lookup for a typo)."""
    if str(name_or_path).startswith((".", "/")) and not Path(name_or_path).exists():
        raise FileNotFoundError(f"model folder not found: {name_or_path}")
    return load_model(name_or_path, dtype=dtype, **kwargs), load_processor(name_or_path)


def vision_module(model) -> torch.nn.Module:
    """The vision tower of a Qwen-VL style model (`model.model.visual` in transformers 5, `model.visual` before)."""
    for path in ("model.visual", "visual", "model.vision_tower", "vision_tower", "model.vision_model"):
        obj = model
        try:
            for attr in path.split("."):
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        return obj
    raise AttributeError(f"{type(model).__name__}: no vision tower found")
