"""The offline writer: one multiple-choice question per world caption, written from its scene graph.

It plays the LLM's part for the demo (no model needed) and follows the same brief: one question about a
spatial relation or a fine detail, four options in the same wording with plausible distractors, one letter
answer, returned as the same JSON text an LLM would return, so it goes through the same parser. Deterministic
per id.

Two styles: `varied` (its own question kinds, options drawn and shuffled per item, as an LLM writes them) and
`world` (the world's own perception question kinds with their fixed option lists: the demo's questions then
ask what its perception test set asks, the way the paper's writer is briefed to ask what perception benchmarks
ask).
"""

from __future__ import annotations

import hashlib
import json
import random
import typing
from typing import Literal

from stagewise.world.scene import COL_NAMES, COLOURS, KINDS, ROW_NAMES, SIZES, Scene, Shape

LETTERS = "ABCD"


class NoQuestion(ValueError):
    """This scene cannot carry any question of the offline writer."""


def _rng(item_id: str) -> random.Random:
    return random.Random(int(hashlib.sha256(item_id.encode()).hexdigest()[:16], 16))


def _options(rng: random.Random, right: str, pool: list[str]) -> tuple[dict[str, str], str]:
    wrong = [p for p in dict.fromkeys(pool) if p != right]
    if len(wrong) < 3:
        raise NoQuestion("too few distractors")
    opts = rng.sample(wrong, 3) + [right]
    rng.shuffle(opts)
    return dict(zip(LETTERS, opts, strict=True)), LETTERS[opts.index(right)]


def _unique(scene: Scene) -> list[Shape]:
    return [s for s in scene.shapes if scene.unique(s)]


def _relation(dr: int, dc: int) -> str:
    vertical = "above" if dr < 0 else "below" if dr > 0 else "level with"
    horizontal = "to the left of" if dc < 0 else "to the right of" if dc > 0 else "in line with"
    return f"{vertical} and {horizontal}"


def q_relation(rng, scene):
    """Spatial: where one shape is relative to another (both named uniquely)."""
    shapes = _unique(scene)
    pairs = [(a, b) for a in shapes for b in shapes if a is not b]
    if not pairs:
        raise NoQuestion
    a, b = rng.choice(pairs)
    right = _relation(a.row - b.row, a.col - b.col)
    pool = [_relation(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    # The nearest confusions first: one axis flipped, then the other, then both.
    pool.sort(key=lambda p: sum(x != y for x, y in zip(p.split(" and "), right.split(" and "), strict=True)))
    opts, letter = _options(rng, right, pool[:5])
    return f"Where is the {a.name} relative to the {b.name}?", opts, letter


def q_place(rng, scene):
    """Spatial: the grid cell a shape sits in, named as the caption names it."""
    shapes = _unique(scene)
    if not shapes:
        raise NoQuestion
    s = rng.choice(shapes)
    near = [
        (r, c)
        for r in range(len(ROW_NAMES))
        for c in range(len(COL_NAMES))
        if (r, c) != (s.row, s.col) and abs(r - s.row) + abs(c - s.col) <= 2
    ]
    pool = [f"{ROW_NAMES[r]} {COL_NAMES[c]}" for r, c in near]
    rng.shuffle(pool)
    opts, letter = _options(rng, s.place, pool)
    return f"In which part of the picture is the {s.name}?", opts, letter


def q_describe(rng, scene):
    """Detail: which description matches the shape in a given cell (one attribute changed per distractor)."""
    s = rng.choice(scene.shapes)
    right = f"a {s.size} {s.colour} {s.kind}"
    pool = [f"a {z} {s.colour} {s.kind}" for z in SIZES if z != s.size]
    pool += [f"a {s.size} {c} {s.kind}" for c in rng.sample(COLOURS, len(COLOURS)) if c != s.colour]
    pool += [f"a {s.size} {s.colour} {k}" for k in rng.sample(KINDS, len(KINDS)) if k != s.kind]
    opts, letter = _options(rng, right, pool)
    return f"Which description matches the shape in the {s.place}?", opts, letter


def q_label(rng, scene):
    """Detail: the digit written on a shape."""
    shapes = [s for s in _unique(scene) if s.label is not None]
    if not shapes:
        raise NoQuestion
    s = rng.choice(shapes)
    pool = [str(d) for d in sorted(range(1, 10), key=lambda d: abs(d - s.label))[1:6]]
    opts, letter = _options(rng, str(s.label), pool)
    return f"Which digit is written on the {s.name}?", opts, letter


def q_bar_value(rng, scene):
    """Detail: the height of one bar."""
    b = rng.choice(scene.bars)
    pool = [str(v) for v in sorted(range(1, 10), key=lambda v: abs(v - b.value))[1:6]]
    opts, letter = _options(rng, str(b.value), pool)
    return f"To which value does bar {b.name} rise?", opts, letter


def q_bar_neighbour(rng, scene):
    """Spatial: which bar stands directly right of another."""
    if len(scene.bars) < 3:
        raise NoQuestion
    i = rng.randrange(len(scene.bars) - 1)
    names = [f"bar {b.name}" for b in scene.bars]
    pool = [n for j, n in enumerate(names) if j != i] + ["bar E", "bar F"]
    opts, letter = _options(rng, names[i + 1], pool)
    return f"Which bar stands directly to the right of {names[i]}?", opts, letter


QuestionStyle = Literal["varied", "world"]
"""`varied`: the writer's own question kinds, options shuffled per item, as an LLM writes them; `world`: the
world's perception question kinds and fixed option lists, what its test set asks."""
STYLES = typing.get_args(QuestionStyle)


def world_question(item_id: str, scene: dict | Scene, kinds: list[str] | tuple[str, ...] = ()) -> dict:
    """A question of the world's perception family (fixed options) for `scene`, with what a reader of the
    image would say it saw (`observation`, for reference traces); `kinds`: only these question kinds (a
    recipe's `world.perception_kinds`; empty: all)."""
    from stagewise.world.tasks import CHART_PERCEPTION_KINDS, PERCEPTION_KINDS, Skip

    scene = Scene.from_dict(scene) if isinstance(scene, dict) else scene
    rng = _rng(item_id)
    table = dict(CHART_PERCEPTION_KINDS if scene.kind == "chart" else PERCEPTION_KINDS)
    order = list(table)
    rng.shuffle(order)
    for kind in order:
        if kinds and kind not in kinds:
            continue
        try:
            question, options, answer, observation = table[kind](rng, scene, True)
        except Skip:
            continue
        return {
            "question": question,
            "options": options,
            "answer": answer,
            "kind": kind,
            "observation": observation,
        }
    raise NoQuestion(f"{item_id}: no question fits this scene")


SHAPE_QUESTIONS = {"relation": q_relation, "place": q_place, "describe": q_describe, "label": q_label}
CHART_QUESTIONS = {"bar_value": q_bar_value, "bar_neighbour": q_bar_neighbour}


def write_from_scene(
    item_id: str, scene: dict | Scene, style: str = "varied", kinds: list[str] | tuple[str, ...] = ()
) -> str:
    """The JSON reply `{question, options, answer, kind}` for one scene in `style` (see the module docstring;
    `kinds` narrows the `world` style's question kinds); NoQuestion if none fits."""
    if style not in STYLES:
        raise ValueError(f"offline writer style must be one of {', '.join(STYLES)}, got {style!r}")
    if style == "world":
        q = world_question(item_id, scene, kinds)
        return json.dumps({k: q[k] for k in ("question", "options", "answer", "kind")})
    scene = Scene.from_dict(scene) if isinstance(scene, dict) else scene
    rng = _rng(item_id)
    kinds = dict(CHART_QUESTIONS if scene.kind == "chart" else SHAPE_QUESTIONS)
    order = list(kinds)
    rng.shuffle(order)
    for kind in order:  # the first kind (in a per-item random order) this scene can carry
        try:
            question, options, answer = kinds[kind](rng, scene)
        except NoQuestion:
            continue
        return json.dumps({"question": question, "options": options, "answer": answer, "kind": kind})
    raise NoQuestion(f"{item_id}: no question fits this scene")
