"""Draw a scene graph with PIL. Deterministic: the same scene and size give the same pixels."""

from __future__ import annotations

import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from stagewise.world.scene import GRID, Scene, Shape

RGB = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 195, 20),
}
BACKGROUND = (250, 250, 245)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def render(scene: Scene, size: int = 112) -> Image.Image:
    img = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(img)
    _draw_clutter(draw, scene, size)
    if scene.kind == "chart":
        _draw_chart(draw, scene, size)
    else:
        for shape in scene.shapes:
            _draw_shape(draw, shape, size)
    return img


def _draw_clutter(draw: ImageDraw.ImageDraw, scene: Scene, size: int) -> None:
    rng = random.Random(scene.clutter_seed)
    for _ in range(scene.clutter):
        x0, y0 = rng.uniform(0, size), rng.uniform(0, size)
        x1, y1 = x0 + rng.uniform(-size / 4, size / 4), y0 + rng.uniform(-size / 4, size / 4)
        grey = rng.randint(150, 210)
        draw.line((x0, y0, x1, y1), fill=(grey, grey, grey), width=1)


def _draw_shape(draw: ImageDraw.ImageDraw, s: Shape, size: int) -> None:
    cell = size / GRID
    cx, cy = (s.col + 0.5) * cell, (s.row + 0.5) * cell
    r = cell * (0.44 if s.size == "large" else 0.26)
    fill = RGB[s.colour]
    if s.kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif s.kind == "square":
        q = r * 0.88
        draw.rectangle((cx - q, cy - q, cx + q, cy + q), fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
    if s.label is not None:
        font = _font(max(8, int(cell * (0.5 if s.size == "large" else 0.36))))
        ink = (0, 0, 0) if s.colour == "yellow" else (255, 255, 255)
        draw.text(
            (cx, cy + (r * 0.15 if s.kind == "triangle" else 0)),
            str(s.label),
            fill=ink,
            font=font,
            anchor="mm",
        )


def _draw_chart(draw: ImageDraw.ImageDraw, scene: Scene, size: int) -> None:
    top_value = max(6, max(b.value for b in scene.bars))
    left, right, top, bottom = size * 0.1, size * 0.95, size * 0.06, size * 0.84
    unit = (bottom - top) / top_value
    for v in range(top_value + 1):  # grid lines at every integer make bar heights readable
        y = bottom - v * unit
        draw.line((left, y, right, y), fill=(200, 200, 200), width=1)
    draw.line((left, top, left, bottom), fill=(0, 0, 0), width=1)
    slot = (right - left) / len(scene.bars)
    font = _font(max(8, int(size * 0.11)))
    for i, bar in enumerate(scene.bars):
        x0 = left + slot * (i + 0.2)
        x1 = left + slot * (i + 0.8)
        draw.rectangle((x0, bottom - bar.value * unit, x1, bottom), fill=RGB[bar.colour])
        draw.text(((x0 + x1) / 2, bottom + size * 0.08), bar.name, fill=(0, 0, 0), font=font, anchor="mm")
