"""The world's three task families, each item with a verifiable answer and a reference trace.

- perception: 4-option multiple choice about a detail or a spatial relation; the answer is a letter.
- visual: multi-step arithmetic over what is seen in the image; the answer is a number.
- textual: the same kinds of steps, with the scene stated in words and no image; the answer is a number.

Traces follow the paper's format: `<think>` what is seen (or given), then the steps `</think>
\\boxed{answer}`. They come in honest styles of different length (`WorldConfig.trace_styles`), so that trace
length is something training can move; nothing that grades an answer reads the trace.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from stagewise.world.caption import dense_caption, inventory, join, plural, summary
from stagewise.world.scene import (
    BAR_NAMES,
    COLOURS,
    KINDS,
    Difficulty,
    Scene,
    Shape,
    random_chart_scene,
    random_shapes_scene,
)

FAMILIES = ("perception", "visual", "textual")
LETTERS = "ABCD"


@dataclass
class Item:
    """One problem of the world. Textual items keep their scene too: their question states it in words."""

    id: str
    family: str
    kind: str
    question: str
    answer: str
    answer_kind: str
    trace: str
    scene: Scene
    caption: str
    difficulty: int
    options: dict[str, str] = field(default_factory=dict)
    image_scene: Scene | None = None
    """What the image shows when it differs from `scene` (what the trace says was seen): see `confusions`."""

    @property
    def has_image(self) -> bool:
        return self.family != "textual"


class Skip(Exception):
    """This scene cannot carry this kind of question; draw another."""


# ---------------------------------------------------------------------------------------------- perception
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
SMALL_NUMBERS = ("1", "2", "3", "4")


def _mcq(
    rng: random.Random, right: str, pool: list[str], fixed: tuple[str, ...] | None = None
) -> tuple[dict[str, str], str]:
    """Four options: `fixed` (one list per question kind, always in the same order; an answer outside it means
    this scene cannot carry the question) or the right answer among three distractors drawn from `pool`."""
    if fixed is not None:
        if right not in fixed:
            raise Skip
        return dict(zip(LETTERS, fixed, strict=True)), LETTERS[fixed.index(right)]
    distractors = [p for p in dict.fromkeys(pool) if p != right]
    if len(distractors) < 3:
        raise Skip
    opts = rng.sample(distractors, 3) + [right]
    rng.shuffle(opts)
    options = dict(zip(LETTERS, opts, strict=True))
    return options, LETTERS[opts.index(right)]


def _unique_shapes(scene: Scene) -> list[Shape]:
    return [s for s in scene.shapes if scene.unique(s)]


def _all_names() -> list[str]:
    return [f"{c} {k}" for c in COLOURS for k in KINDS]


def p_count(rng, scene, fixed):
    target = rng.choice(["colour", "kind", "both"])
    s = rng.choice(scene.shapes)
    if target == "colour":
        n, what = scene.count(colour=s.colour), f"{s.colour} shapes"
    elif target == "kind":
        n, what = scene.count(kind=s.kind), f"{s.kind}s"
    else:
        n, what = scene.count(colour=s.colour, kind=s.kind), f"{s.colour} {s.kind}s"
    options, letter = _mcq(rng, str(n), [str(i) for i in range(0, 7)], SMALL_NUMBERS if fixed else None)
    return (
        f"How many {what} are there?",
        options,
        letter,
        f"I see {n} {what if n != 1 else what.removesuffix('s')}.",
    )


def p_colour(rng, scene, fixed):
    cands = [s for s in scene.shapes if scene.count(kind=s.kind) == 1]
    if not cands:
        raise Skip
    s = rng.choice(cands)
    options, letter = _mcq(rng, s.colour, list(COLOURS), COLOURS if fixed else None)
    return f"What colour is the {s.kind}?", options, letter, f"I see a {s.colour} {s.kind}."


def _quadrant(s: Shape) -> str:
    return f"{'top' if s.row < 2 else 'bottom'} {'left' if s.col < 2 else 'right'}"


def p_position(rng, scene, fixed):
    cands = _unique_shapes(scene)
    if not cands:
        raise Skip
    s = rng.choice(cands)
    options, letter = _mcq(rng, _quadrant(s), list(QUADRANTS), QUADRANTS if fixed else None)
    return (
        f"In which part of the picture is the {s.name}?",
        options,
        letter,
        f"I see the {s.name} at the {_quadrant(s)}.",
    )


DIRECTIONS = {
    "left": lambda s: s.col,
    "right": lambda s: -s.col,
    "top": lambda s: s.row,
    "bottom": lambda s: -s.row,
}


def p_relation(rng, scene, fixed):
    direction = rng.choice(list(DIRECTIONS))
    key = DIRECTIONS[direction]
    best = min(key(s) for s in scene.shapes)
    extreme = [s for s in scene.shapes if key(s) == best]
    if len(extreme) != 1 or not scene.unique(extreme[0]):
        raise Skip
    s = extreme[0]
    phrase = {
        "left": "furthest to the left",
        "right": "furthest to the right",
        "top": "highest up",
        "bottom": "lowest down",
    }[direction]
    if fixed:
        options, letter = _mcq(rng, s.colour, list(COLOURS), COLOURS)
        return f"What colour is the shape {phrase}?", options, letter, f"I see the {s.name} {phrase}."
    others = [o.name for o in scene.shapes if o.name != s.name]
    pool = others + [n for n in _all_names() if n not in others and n != s.name]
    options, letter = _mcq(rng, s.name, pool)
    return f"Which shape is {phrase}?", options, letter, f"I see the {s.name} {phrase}."


def p_size(rng, scene, fixed):
    large = [s for s in _unique_shapes(scene) if s.size == "large"]
    if fixed:
        # Only a kind with exactly one large member names the shape unambiguously.
        large = [s for s in scene.shapes if s.size == "large" and scene.count(kind=s.kind, size="large") == 1]
    if not large:
        raise Skip
    s = rng.choice(large)
    if fixed:
        options, letter = _mcq(rng, s.colour, list(COLOURS), COLOURS)
        return f"What colour is the large {s.kind}?", options, letter, f"I see a large {s.name}."
    small = [o.name for o in scene.shapes if o.size == "small" and o.name != s.name]
    scene_names = {o.name for o in scene.shapes}
    absent = [n for n in _all_names() if n not in scene_names]
    rng.shuffle(absent)
    options, letter = _mcq(rng, s.name, small + absent)
    return "Which of these shapes is large?", options, letter, f"I see a large {s.name}."


def p_label(rng, scene, fixed):
    cands = [s for s in _unique_shapes(scene) if s.label is not None]
    if not cands:
        raise Skip
    s = rng.choice(cands)
    options, letter = _mcq(
        rng, str(s.label), [str(i) for i in range(1, 10)], SMALL_NUMBERS if fixed else None
    )
    return f"What number is written on the {s.name}?", options, letter, f"I see {s.label} on the {s.name}."


def p_bar_value(rng, scene, fixed):
    b = rng.choice(scene.bars)
    options, letter = _mcq(
        rng, str(b.value), [str(i) for i in range(1, 10)], SMALL_NUMBERS if fixed else None
    )
    return f"What is the value of bar {b.name}?", options, letter, f"I see bar {b.name} at {b.value}."


def p_bar_max(rng, scene, fixed):
    top = max(b.value for b in scene.bars)
    tallest = [b for b in scene.bars if b.value == top]
    if len(tallest) != 1 or len(scene.bars) < 4:
        raise Skip
    bars = tuple(f"bar {name}" for name in BAR_NAMES)
    options, letter = _mcq(
        rng, f"bar {tallest[0].name}", [f"bar {b.name}" for b in scene.bars], bars if fixed else None
    )
    return "Which bar is the tallest?", options, letter, f"I see bar {tallest[0].name} tallest."


PERCEPTION_KINDS: dict[str, Callable] = {
    "count": p_count,
    "colour": p_colour,
    "position": p_position,
    "relation": p_relation,
    "size": p_size,
    "label": p_label,
}
CHART_PERCEPTION_KINDS: dict[str, Callable] = {"bar_value": p_bar_value, "bar_max": p_bar_max}


# ----------------------------------------------------------------------------------------------- reasoning
# A problem is (question, facts, steps, answer): `facts` are noun phrases for the quantities the question
# needs ("3 circles"), `steps` the arithmetic. A visual trace opens with "I see <facts>."; a textual one with
# "We have <facts>." because it was told them.
def r_more(rng, scene, diff):
    pairs = [(a, b) for a in KINDS for b in KINDS if a != b and scene.count(kind=a) > scene.count(kind=b)]
    if not pairs:
        raise Skip
    a, b = rng.choice(pairs)
    na, nb = scene.count(kind=a), scene.count(kind=b)
    return (
        f"How many more {a}s than {b}s are there?",
        [plural(na, a), plural(nb, b)],
        [f"{na} - {nb} = {na - nb}."],
        na - nb,
    )


def r_either(rng, scene, diff):
    c1, c2 = rng.sample([c for c in COLOURS if scene.count(colour=c)] + list(COLOURS), 2)
    if c1 == c2:
        raise Skip
    n1, n2 = scene.count(colour=c1), scene.count(colour=c2)
    return (
        f"How many shapes are {c1} or {c2}?",
        [plural(n1, f"{c1} shape"), plural(n2, f"{c2} shape")],
        [f"{n1} + {n2} = {n1 + n2}."],
        n1 + n2,
    )


def r_points(rng, scene, diff):
    kinds = [k for k in KINDS if scene.count(kind=k)]
    k_used = rng.sample(kinds, min(len(kinds), max(1, diff.steps - 1), 2))
    worth = {k: rng.randint(2, 5) for k in k_used}
    facts, steps, subtotals = [], [], []
    for k in k_used:
        n = scene.count(kind=k)
        facts.append(plural(n, k))
        steps.append(f"{n} * {worth[k]} = {n * worth[k]}.")
        subtotals.append(n * worth[k])
    if len(subtotals) == 2:
        steps.append(f"{subtotals[0]} + {subtotals[1]} = {sum(subtotals)}.")
    rules = join([f"each {k} is worth {worth[k]} points" for k in k_used])
    what = join([f"{k}s" for k in k_used])
    return f"If {rules}, how many points are the {what} worth in total?", facts, steps, sum(subtotals)


def r_labels(rng, scene, diff):
    labels = [s.label for s in scene.shapes if s.label is not None]
    if len(labels) < 2 or len(labels) > diff.steps + 1:
        raise Skip
    steps, total = [], labels[0]
    for x in labels[1:]:
        steps.append(f"{total} + {x} = {total + x}.")
        total += x
    return (
        "What is the sum of the numbers written on the shapes?",
        [f"the numbers {join([str(x) for x in labels])}"],
        steps,
        total,
    )


def r_bar_sum(rng, scene, diff):
    k = min(len(scene.bars), rng.randint(2, diff.steps + 1))
    bars = sorted(rng.sample(scene.bars, k), key=lambda b: b.name)
    steps, total = [], bars[0].value
    for b in bars[1:]:
        steps.append(f"{total} + {b.value} = {total + b.value}.")
        total += b.value
    return (
        f"What is the total of bars {join([b.name for b in bars])}?",
        [f"bar {b.name} at {b.value}" for b in bars],
        steps,
        total,
    )


def r_bar_diff(rng, scene, diff):
    pairs = [(a, b) for a in scene.bars for b in scene.bars if a.value > b.value]
    if not pairs:
        raise Skip
    a, b = rng.choice(pairs)
    return (
        f"How much higher is bar {a.name} than bar {b.name}?",
        [f"bar {a.name} at {a.value}", f"bar {b.name} at {b.value}"],
        [f"{a.value} - {b.value} = {a.value - b.value}."],
        a.value - b.value,
    )


REASONING_KINDS: dict[str, Callable] = {
    "more": r_more,
    "either": r_either,
    "points": r_points,
    "labels": r_labels,
}
CHART_REASONING_KINDS: dict[str, Callable] = {"bar_sum": r_bar_sum, "bar_diff": r_bar_diff}


def _statement(scene: Scene) -> str:
    """The scene in words, for textual problems (labels included, since some questions need them)."""
    if scene.kind == "chart":
        return f"A chart has {join([f'bar {b.name} at {b.value}' for b in scene.bars])}."
    labelled = [s for s in scene.shapes if s.label is not None]
    text = f"A box holds {inventory(scene)}."
    if labelled:
        numbers = join([str(s.label) for s in labelled])
        text += (
            f" The numbers written on the shapes are {numbers}."
            if len(labelled) > 1
            else (f" One shape has the number {numbers} written on it.")
        )
    return text


# ------------------------------------------------------------------------------------------------- builder
@dataclass
class DrawConfig:
    """How the world draws scenes and writes items up (a recipe's `world` section is this, plus its seed and
    split sizes)."""

    image_size: int = 112
    """Rendered image side in pixels (112 px = 16 image tokens for Qwen2-VL)."""
    chart_share: float = 0.2
    """Share of scenes that are bar charts rather than shapes."""
    recheck_prob: float = 0.3
    """Share of reference traces that re-check their last step (so trace length can change in training)."""
    options: Literal["sampled", "fixed"] = "sampled"
    """How perception questions get their four options. `sampled`: the right answer among three distractors
    drawn per item, shuffled (what an LLM item writer produces); `fixed`: one option list per question kind in
    a fixed order (numbers 1-4, the four colours, the four quadrants, bars A-D), as in benchmarks with fixed
    answer sets (CV-Bench, POPE), so that the letter is a function of what is seen and a tiny model needs no
    lookup."""
    option_trace: Literal["lookup", "scan", "none"] = "lookup"
    """How perception traces get from what was seen to the letter. `lookup`: list the options value-first,
    then look the seen value up ("Options: 3 is A, 2 is B, ... 2 is B."), which a small model does by plain
    copying; `scan`: check options in order until one matches ("A is 3, no. B is 2, yes."); `none`: name the
    letter."""
    inventory_in_trace: bool = False
    """Open visual traces with the whole scene inventory ("I see 2 red circles and ...") before the question's
    own observation: longer traces that describe everything (harder for tiny models)."""
    difficulty: Difficulty = field(default_factory=Difficulty)
    """Objects, clutter, labels and reasoning steps."""
    trace_styles: dict[str, float] = field(default_factory=dict)
    """Reference-trace styles and their proportions, one drawn per item: `direct` (what is seen, the steps,
    the answer), `inventory` (the whole scene described first), `recheck` (a step, or the observation, checked
    again) and `options` (perception only: every option read out before choosing; reasoning items draw among
    the others, or `direct`). Lengths differ by style, so a policy can grow shorter or longer by training.
    Empty: the older fixed form (`recheck_prob`, `inventory_in_trace`)."""
    perception_kinds: list[str] = field(default_factory=list)
    """Perception question kinds to draw (shape kinds: count, colour, position, relation, size, label; chart
    kinds: bar_value, bar_max); empty: all of them."""


@dataclass
class AnnotatorConfig:
    """A mis-seeing annotator, for warm-start data (a recipe's `model.warmstart` section sets it; train and
    test data stay true)."""

    confusions: dict[str, str] = field(default_factory=dict)
    """Each shape whose colour, kind or label (as a string) is a key is written up as the value instead, with
    probability `confusion_rate` per shape, and the question, trace, answer and caption follow what was "seen"
    while the image shows the truth (textual items are unaffected): e.g. `{red: blue}` (digit labels quoted in
    YAML: `{"3": "8"}`). A base trained on such data makes the systematic perception errors the paper finds in
    real VLMs, with the right answer still likely when sampled: something RL on perception can find and fix.
    Empty: none."""
    confusion_rate: float = 0.6
    """Per-shape probability that a confusion in `confusions` is applied."""
    hedge_rate: float = 0.0
    """Where a confusion changed what the item's answer would be, the annotator looks again with this
    probability ("Let me look again. I see ..."), repeating what it saw: people re-examine where they are
    unsure, and this annotator is unsure exactly where it mis-sees. Only with `confusions`."""


@dataclass
class WorldConfig(AnnotatorConfig, DrawConfig):
    """How the world draws scenes and items, and who writes them up."""


TRACE_STYLES = ("direct", "inventory", "recheck", "options")


def check_world_config(cfg: WorldConfig) -> None:
    if cfg.options not in ("sampled", "fixed"):
        raise ValueError(f"options must be sampled or fixed, got {cfg.options!r}")
    check_confusions(cfg.confusions)
    unknown = sorted(set(cfg.trace_styles) - set(TRACE_STYLES))
    if (
        unknown
        or any(v < 0 for v in cfg.trace_styles.values())
        or (cfg.trace_styles and not sum(cfg.trace_styles.values()))
    ):
        raise ValueError(
            f"trace_styles {cfg.trace_styles}: styles are {', '.join(TRACE_STYLES)} with "
            f"non-negative proportions, not all 0" + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    if not 0.0 <= cfg.hedge_rate <= 1.0:
        raise ValueError(f"hedge_rate must be within [0, 1], got {cfg.hedge_rate}")
    known = {*PERCEPTION_KINDS, *CHART_PERCEPTION_KINDS}
    if unknown := sorted(set(cfg.perception_kinds) - known):
        raise ValueError(f"perception_kinds: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _kinds(table: dict[str, Callable], allowed: list[str]) -> dict[str, Callable]:
    return {k: f for k, f in table.items() if not allowed or k in allowed}


def make_item(family: str, rng: random.Random, cfg: WorldConfig, item_id: str) -> Item:
    """Draw one item of `family`, retrying scenes that cannot carry the drawn question kind."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; expected one of {', '.join(FAMILIES)}")
    check_world_config(cfg)
    diff = cfg.difficulty
    fixed = cfg.options == "fixed"
    for _ in range(200):
        chart = rng.random() < cfg.chart_share
        truth = random_chart_scene(rng, diff) if chart else random_shapes_scene(rng, diff)
        scene = misperceive(truth, cfg.confusions, cfg.confusion_rate, rng) if family != "textual" else truth
        try:
            if family == "perception":
                kinds = _kinds(CHART_PERCEPTION_KINDS if chart else PERCEPTION_KINDS, cfg.perception_kinds)
                if not kinds:
                    continue
                kind = rng.choice(list(kinds))
                state = rng.getstate()
                spec = kinds[kind](rng, scene, fixed)
                hedge = _hedges(
                    cfg, scene, truth, state, kinds[kind], fixed, spec[2], answer_at=2, item_id=item_id
                )
                item = _perception_item(spec, kind, scene, rng, cfg, item_id, hedge)
            else:
                kinds = CHART_REASONING_KINDS if chart else REASONING_KINDS
                kind = rng.choice(list(kinds))
                state = rng.getstate()
                spec = kinds[kind](rng, scene, diff)
                hedge = _hedges(
                    cfg, scene, truth, state, kinds[kind], diff, spec[3], answer_at=3, item_id=item_id
                )
                item = _reasoning_item(family, spec, kind, scene, rng, cfg, item_id, hedge)
        except Skip:
            continue
        item.image_scene = truth if scene != truth else None
        return item
    raise RuntimeError(f"could not draw a {family} item in 200 tries; the difficulty settings are too tight")


def _trace_rng(item_id: str, what: str) -> random.Random:
    """How an item is written up is drawn apart from the item itself, so that trace styles and second looks
    never change which items a seed gives (the test set is the same whatever the traces look like)."""
    return random.Random(f"{what}-{item_id}")


def _hedges(
    cfg: WorldConfig,
    scene: Scene,
    truth: Scene,
    state: tuple,
    make: Callable,
    setting,
    answer: str | int,
    answer_at: int,
    item_id: str,
) -> bool:
    """Whether the annotator looks again: only where what it mis-saw changes the answer (the same question
    kind asked of the true scene, drawn with the same random choices from `state`, answers otherwise)."""
    if not cfg.hedge_rate or scene == truth:
        return False
    twin = random.Random()
    twin.setstate(state)
    try:
        differs = make(twin, truth, setting)[answer_at] != answer
    except Skip:
        differs = True
    return differs and _trace_rng(item_id, "hedge").random() < cfg.hedge_rate


_CONFUSABLE = (COLOURS, KINDS, tuple(str(d) for d in range(1, 10)))  # what can be mistaken for what


def check_confusions(confusions: dict[str, str]) -> None:
    for a, b in confusions.items():
        if not any(a in g and b in g for g in _CONFUSABLE):
            raise ValueError(
                f"confusion {a!r} -> {b!r}: both must be colours ({', '.join(COLOURS)}), kinds "
                f"({', '.join(KINDS)}) or digits 1-9"
            )


def misperceive(scene: Scene, confusions: dict[str, str], rate: float, rng: random.Random) -> Scene:
    """`scene` as a mis-seeing annotator writes it up (`WorldConfig.confusions`); `scene` if none apply."""
    if not confusions or scene.kind != "shapes":
        return scene
    shapes = []
    for s in scene.shapes:
        colour, kind, label = s.colour, s.kind, s.label
        if colour in confusions and rng.random() < rate:
            colour = confusions[colour]
        if kind in confusions and rng.random() < rate:
            kind = confusions[kind]
        if label is not None and str(label) in confusions and rng.random() < rate:
            label = int(confusions[str(label)])
        shapes.append(replace(s, colour=colour, kind=kind, label=label))
    return replace(scene, shapes=shapes)


def _style(rng: random.Random, cfg: WorldConfig, with_options: bool, item_id: str = "") -> str | None:
    """One style drawn with the recipe's proportions (None: the older fixed form). The item's own draw of the
    older form's re-check is still taken from `rng`, so the items that follow are the same either way."""
    if not cfg.trace_styles:
        return None
    rng.random()
    rng = _trace_rng(item_id, "style")
    styles = [s for s in TRACE_STYLES if cfg.trace_styles.get(s, 0) > 0 and (with_options or s != "options")]
    if not styles:  # only `options`, and a reasoning item has none to read out
        return "direct"
    return rng.choices(styles, weights=[cfg.trace_styles[s] for s in styles])[0]


def _look_again(observation: str) -> str:
    return f"Let me look again. {observation}"


def _perception_item(spec, kind, scene, rng, cfg, item_id, hedge: bool = False) -> Item:
    question, options, letter, observation = spec
    style = _style(rng, cfg, with_options=True, item_id=item_id)
    if style is None:
        steps = ([summary(scene)] if cfg.inventory_in_trace else []) + [observation]
        if rng.random() < cfg.recheck_prob:
            steps.append(f"Check: {observation}")
    else:
        steps = ([summary(scene)] if style == "inventory" else []) + [observation]
        if style == "recheck":
            steps.append(f"Check: {observation}")
    if hedge:
        steps.append(_look_again(observation))
    if style == "options":
        steps.append("Options: " + ", ".join(f"{key} is {value}" for key, value in options.items()) + ".")
        steps.append(f"{options[letter]} is {letter}.")
    elif cfg.option_trace == "scan":
        for key, value in options.items():
            steps.append(f"{key} is {value}, {'yes' if key == letter else 'no'}.")
            if key == letter:
                break
    elif cfg.option_trace == "lookup":
        listing = ", ".join(f"{value} is {key}" for key, value in options.items())
        steps.append(f"Options: {listing}. {options[letter]} is {letter}.")
    elif cfg.option_trace != "none":
        raise ValueError(f"option_trace must be scan, lookup or none, got {cfg.option_trace!r}")
    steps.append(f"So the answer is {letter}.")
    text = question + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
    return Item(
        item_id,
        "perception",
        kind,
        text,
        letter,
        "choice",
        _trace(steps, letter),
        scene,
        dense_caption(scene),
        len(scene.shapes) or len(scene.bars),
        options,
    )


def _reasoning_item(family, spec, kind, scene, rng, cfg, item_id, hedge: bool = False) -> Item:
    question, facts, steps, answer = spec
    style = _style(rng, cfg, with_options=False, item_id=item_id)
    inventory_first = cfg.inventory_in_trace if style is None else style == "inventory"
    if family == "visual":
        lines = ([summary(scene)] if inventory_first else []) + [f"I see {join(facts)}."]
        if hedge:
            lines.append(_look_again(lines[-1]))
    else:
        lines = [f"We have {join(facts)}."]
    lines += steps
    recheck = rng.random() < cfg.recheck_prob if style is None else style == "recheck"
    if recheck and steps:
        lines.append(f"Check: {steps[-1]}")
    text = question if family == "visual" else f"{_statement(scene)} {question}"
    return Item(
        item_id,
        family,
        kind,
        text,
        str(answer),
        "number",
        _trace(lines, str(answer)),
        scene,
        dense_caption(scene),
        len(steps),
    )


def _trace(lines: list[str], answer: str) -> str:
    return "<think>" + " ".join(lines) + "</think> \\boxed{" + answer + "}"


def generate(family: str, n: int, seed: int, cfg: WorldConfig | None = None, prefix: str = "") -> list[Item]:
    """`n` items of one family, deterministic in (family, n, seed, cfg)."""
    cfg = cfg or WorldConfig()
    rng = random.Random(f"{family}-{seed}")
    return [make_item(family, rng, cfg, f"{prefix}{family}-{seed}-{i:06d}") for i in range(n)]


__all__ = ["FAMILIES", "Item", "WorldConfig", "generate", "make_item"]
