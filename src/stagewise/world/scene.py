"""Scene graphs of the procedural visual world: shapes on a grid, or a simple bar chart.

Objects sit in the cells of a GRID x GRID layout. At the default 112 px with Qwen2-VL's 14 px patches merged
2 x 2, one cell is exactly one image token, so "what is where" is something even a tiny vision tower can see.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

KINDS = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
GRID = 4
BAR_NAMES = ("A", "B", "C", "D")
ROW_NAMES = ("top", "upper middle", "lower middle", "bottom")
COL_NAMES = ("left", "centre left", "centre right", "right")


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    size: str
    row: int
    col: int
    label: int | None = None

    @property
    def name(self) -> str:
        """Short reference used in questions: 'red circle'."""
        return f"{self.colour} {self.kind}"

    @property
    def place(self) -> str:
        return f"{ROW_NAMES[self.row]} {COL_NAMES[self.col]}"


@dataclass(frozen=True)
class Bar:
    name: str
    value: int
    colour: str


@dataclass
class Difficulty:
    """The difficulty knob: how much there is to see and how many reasoning steps a problem takes."""

    min_objects: int = 2
    """Fewest shapes in a scene."""
    max_objects: int = 5
    """Most shapes in a scene (at most GRID * GRID)."""
    clutter: int = 0
    """Number of grey distractor strokes drawn over the background."""
    label_prob: float = 0.3
    """Chance that a shape carries a small digit label."""
    steps: int = 2
    """Most arithmetic steps in a reasoning problem (1-3)."""
    max_bar: int = 6
    """Tallest bar value in charts."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Scene:
    """A scene graph. `kind` is 'shapes' or 'chart'; exactly one of `shapes`/`bars` is filled."""

    kind: str
    shapes: list[Shape] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    clutter_seed: int = 0
    clutter: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        return cls(
            kind=d["kind"],
            shapes=[Shape(**s) for s in d.get("shapes", [])],
            bars=[Bar(**b) for b in d.get("bars", [])],
            clutter_seed=d.get("clutter_seed", 0),
            clutter=d.get("clutter", 0),
        )

    def count(self, colour: str | None = None, kind: str | None = None, size: str | None = None) -> int:
        return sum(
            1
            for s in self.shapes
            if (colour is None or s.colour == colour)
            and (kind is None or s.kind == kind)
            and (size is None or s.size == size)
        )

    def unique(self, shape: Shape) -> bool:
        """True when 'colour kind' names exactly one shape, so questions about it are unambiguous."""
        return self.count(colour=shape.colour, kind=shape.kind) == 1


def random_shapes_scene(rng: random.Random, diff: Difficulty) -> Scene:
    n = rng.randint(diff.min_objects, min(diff.max_objects, GRID * GRID))
    cells = rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], n)
    # A small palette per scene makes repeated colours/kinds (and so counting questions) common.
    colours = rng.sample(COLOURS, rng.randint(2, len(COLOURS)))
    kinds = rng.sample(KINDS, rng.randint(2, len(KINDS)))
    shapes = []
    for r, c in sorted(cells):
        label = rng.randint(1, 9) if rng.random() < diff.label_prob else None
        shapes.append(Shape(rng.choice(kinds), rng.choice(colours), rng.choice(SIZES), r, c, label))
    return Scene("shapes", shapes=shapes, clutter_seed=rng.randrange(1 << 30), clutter=diff.clutter)


def random_chart_scene(rng: random.Random, diff: Difficulty) -> Scene:
    n = rng.randint(3, len(BAR_NAMES))
    colour = rng.choice(COLOURS)
    bars = [Bar(BAR_NAMES[i], rng.randint(1, diff.max_bar), colour) for i in range(n)]
    return Scene("chart", bars=bars, clutter_seed=rng.randrange(1 << 30), clutter=diff.clutter)
