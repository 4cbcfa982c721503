"""Text written from a scene graph: the dense DOCCI-like caption and the short 'what I see' summary.

The caption is what perception data is written from (and what the caption probe reads); the summary is the
first sentence of every visual reference trace, so that the model learns to say what it sees before reasoning.
"""

from __future__ import annotations

from stagewise.world.scene import COLOURS, KINDS, Scene


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def inventory(scene: Scene) -> str:
    """'2 red circles and 1 blue square' in a canonical order (colour, then kind)."""
    if scene.kind == "chart":
        return "a bar chart with " + join([f"bar {b.name} at {b.value}" for b in scene.bars])
    parts = []
    for colour in COLOURS:
        for kind in KINDS:
            n = scene.count(colour=colour, kind=kind)
            if n:
                parts.append(plural(n, f"{colour} {kind}"))
    return join(parts)


def summary(scene: Scene) -> str:
    """The perception sentence that opens a visual trace."""
    return f"I see {inventory(scene)}."


def dense_caption(scene: Scene) -> str:
    """A paragraph naming every object with its size, colour, place and label, like a DOCCI description."""
    if scene.kind == "chart":
        colour = scene.bars[0].colour
        tallest = max(b.value for b in scene.bars)
        names = [b.name for b in scene.bars if b.value == tallest]
        text = [
            f"A simple bar chart with {len(scene.bars)} {colour} bars labelled "
            f"{join([b.name for b in scene.bars])} below the axis, drawn over light grey horizontal grid "
            "lines, one line per unit."
        ]
        text += [f"Bar {b.name} rises to {b.value}." for b in scene.bars]
        text.append(f"The tallest {'bar is' if len(names) == 1 else 'bars are'} {join(names)}, at {tallest}.")
    else:
        n = len(scene.shapes)
        text = [
            f"A plain off-white picture with {plural(n, 'flat coloured shape')} laid out on a four by four "
            "grid."
        ]
        for s in scene.shapes:
            label = f" with the digit {s.label} written on it" if s.label is not None else ""
            text.append(f"In the {s.place} there is a {s.size} {s.colour} {s.kind}{label}.")
        text.append(f"Altogether there are {inventory(scene)}.")
    if scene.clutter:
        text.append(f"{plural(scene.clutter, 'thin grey stroke').capitalize()} cross the background.")
    return " ".join(text)
