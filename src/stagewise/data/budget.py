"""The image and prompt budget of a stage: images scaled into [min_pixels, max_pixels] before the processor
sees them, and rows whose prompt would exceed `data.max_prompt_tokens` dropped (and counted) before training.

Both follow EasyR1, which the paper trained with: it resizes every image so that width x height lies within
the pixel bounds (aspect ratio kept) and filters prompts longer than `max_prompt_length` tokens. Doing the
resize on the image, not through one family's processor settings, gives every VLM family the same meaning; a
4-megapixel image is otherwise about 5,100 prompt tokens on Qwen2.5-VL, past a 4,096-token vLLM context."""

from __future__ import annotations

import io
import logging
import math
from collections import Counter
from functools import lru_cache

from PIL import Image

log = logging.getLogger(__name__)


def fitted_size(width: int, height: int, min_pixels: int | None, max_pixels: int | None) -> tuple[int, int]:
    """The size EasyR1 resizes an image to: scaled down to at most `max_pixels`, up to at least
    `min_pixels`."""
    pixels = width * height
    factor = 1.0
    if max_pixels is not None and pixels > max_pixels:
        factor = math.sqrt(max_pixels / pixels)
    elif min_pixels is not None and pixels < min_pixels:
        factor = math.sqrt(min_pixels / pixels)
    if factor == 1.0:
        return width, height
    return max(1, int(width * factor)), max(1, int(height * factor))


def fit_pixels(image: Image.Image, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    size = fitted_size(*image.size, min_pixels, max_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def image_size(ref) -> tuple[int, int]:
    """Width and height of a row's image, read from its header (never decoded)."""
    if isinstance(ref, Image.Image):
        return ref.size
    src = io.BytesIO(ref["bytes"]) if ref.get("bytes") is not None else ref["path"]
    with Image.open(src) as im:
        return im.size


class PromptLength:
    """Prompt tokens of a TRL row as the stage's processor renders it: the chat template's text tokens plus,
    per image, the tokens the processor gives an image of that (fitted) size, measured once per size on a
    blank image of it, so that any family's image tokenisation counts without decoding a single data image."""

    def __init__(self, processor, min_pixels: int | None = None, max_pixels: int | None = None):
        self.processor, self.min_pixels, self.max_pixels = processor, min_pixels, max_pixels
        self._image_tokens = lru_cache(maxsize=4096)(self._measure)

    def _text(self, text: str, images: int) -> str:
        content = [{"type": "image"} for _ in range(images)] + [{"type": "text", "text": text}]
        return self.processor.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )

    def _measure(self, size: tuple[int, int]) -> int:
        with_image = self.processor(
            text=[self._text("x", 1)], images=[Image.new("RGB", size)], return_tensors="np"
        )
        without = self.processor.tokenizer(self._text("x", 0))["input_ids"]
        return len(with_image["input_ids"][0]) - len(without)

    def __call__(self, row: dict) -> int:
        text = row["prompt"][-1]["content"] if isinstance(row["prompt"], list) else str(row["prompt"])
        tokens = len(self.processor.tokenizer(self._text(text, 0))["input_ids"])
        for ref in row.get("images") or []:
            tokens += self._image_tokens(fitted_size(*image_size(ref), self.min_pixels, self.max_pixels))
        return tokens


def drop_overlong(rows: list[dict], length: PromptLength, max_tokens: int | None, stage: str) -> list[dict]:
    """`rows` without those whose prompt exceeds `max_tokens`; how many each source lost is logged (a source
    that loses every row is an error: the stage would silently train on the others only)."""
    if max_tokens is None:
        return rows
    kept, dropped, seen = [], Counter(), Counter()
    for r in rows:
        seen[r.get("family", "")] += 1
        if length(r) > max_tokens:
            dropped[r.get("family", "")] += 1
        else:
            kept.append(r)
    for source, n in dropped.items():
        log.warning(
            "stage %s: dropped %d of %d rows of %s whose prompt is over data.max_prompt_tokens=%d",
            stage,
            n,
            seen[source],
            source or "its data",
            max_tokens,
        )
        if n == seen[source]:
            raise ValueError(
                f"stage {stage}: every row of {source or 'its data'} has a prompt over "
                f"data.max_prompt_tokens={max_tokens}; raise it or lower model.max_pixels"
            )
    return kept
