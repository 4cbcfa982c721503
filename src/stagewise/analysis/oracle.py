"""Oracle attribution on world items: does what the trace says it sees match the scene graph that was drawn?

World traces open with observations ("I see 3 circles and 1 square.", "I see bar B at 4.", "I see the red
circle at the top left."). Each observation is split into atomic claims, each claim checked against the scene.
A wrong answer whose trace makes a false claim is a perception error; one whose every claim is true is a
reasoning error; a trace with no checkable claim is `unknown`.
"""

from __future__ import annotations

import re
from collections import Counter

from stagewise.world.scene import COLOURS, KINDS, Scene
from stagewise.world.tasks import DIRECTIONS

_COL = "|".join(COLOURS)
_KIND = "|".join(KINDS)
_SEE = re.compile(r"\bI see ([^.]*)")
_SPLIT = re.compile(r",\s*|\s+and\s+")
_NUMBERS = re.compile(r"\bthe numbers? ((?:\d+(?:,\s*|\s+and\s+)?)+)")
_PHRASE_DIR = {
    "furthest to the left": "left",
    "furthest to the right": "right",
    "highest up": "top",
    "lowest down": "bottom",
}
PATTERNS = {
    "bar_value": re.compile(r"^bar ([A-Z]) at (\d+)$"),
    "bar_tallest": re.compile(r"^bar ([A-Z]) tallest$"),
    "count": re.compile(rf"^(\d+) (?:(small|large) )?(?:({_COL}) )?({_KIND}|shape)s?$"),
    "exists": re.compile(rf"^an? (?:(small|large) )?({_COL}) ({_KIND})$"),
    "position": re.compile(rf"^the ({_COL}) ({_KIND}) at the (top|bottom) (left|right)$"),
    "relation": re.compile(rf"^the ({_COL}) ({_KIND}) ({'|'.join(_PHRASE_DIR)})$"),
    "label": re.compile(rf"^(\d+) on the ({_COL}) ({_KIND})$"),
}


def observations(response: str) -> list[str]:
    """The text of every "I see ..." sentence in the trace (re-checks included)."""
    return [m.group(1).strip() for m in _SEE.finditer(response)]


def claims(observation: str) -> list[str]:
    """Split one observation into atomic claims; a list of numbers ("the numbers 3, 4 and 5") stays whole."""
    text = observation.removeprefix("a bar chart with ").strip()
    out = []
    m = _NUMBERS.search(text)
    if m:
        out.append(m.group(0).strip(" ,"))
        text = (text[: m.start()] + text[m.end() :]).strip()
    out += [p.strip() for p in _SPLIT.split(text) if p.strip()]
    return out


def _quadrant(row: int, col: int) -> tuple[str, str]:
    return ("top" if row < 2 else "bottom", "left" if col < 2 else "right")


def check_claim(claim: str, scene: Scene) -> tuple[bool | None, str]:
    """(True/False, the truth in words) for a claim the oracle understands; (None, "") otherwise."""
    bars = {b.name: b.value for b in scene.bars}
    m = _NUMBERS.fullmatch(claim)
    if m:
        said = sorted(int(x) for x in re.findall(r"\d+", claim))
        drawn = sorted(s.label for s in scene.shapes if s.label is not None)
        return said == drawn, f"labels drawn: {drawn}"
    for name, pattern in PATTERNS.items():
        m = pattern.match(claim)
        if not m:
            continue
        g = m.groups()
        if name == "bar_value":
            return bars.get(g[0]) == int(g[1]), f"bar {g[0]} is at {bars.get(g[0], 'no such bar')}"
        if name == "bar_tallest":
            top = max(bars.values(), default=None)
            tallest = [k for k, v in bars.items() if v == top]
            return tallest == [g[0]], f"tallest: {', '.join(tallest) or 'no bars'}"
        if name == "count":
            n = scene.count(size=g[1], colour=g[2], kind=None if g[3] == "shape" else g[3])
            return n == int(g[0]), f"{n} drawn"
        if name == "exists":
            n = scene.count(size=g[0], colour=g[1], kind=g[2])
            return n >= 1, f"{n} drawn"
        if name == "position":
            where = [_quadrant(s.row, s.col) for s in scene.shapes if s.colour == g[0] and s.kind == g[1]]
            return (g[2], g[3]) in where, f"drawn at {', '.join(' '.join(w) for w in where) or 'nowhere'}"
        if name == "relation":
            key = DIRECTIONS[_PHRASE_DIR[g[2]]]
            best = min((key(s) for s in scene.shapes), default=None)
            extreme = [s.name for s in scene.shapes if key(s) == best]
            return extreme == [f"{g[0]} {g[1]}"], f"{g[2]}: {', '.join(extreme) or 'no shapes'}"
        if name == "label":
            labels = [s.label for s in scene.shapes if s.colour == g[1] and s.kind == g[2]]
            return int(g[0]) in labels, f"labels on {g[1]} {g[2]}: {labels}"
    return None, ""


def attribute(response: str, scene: Scene) -> dict:
    """`{label, evidence, claims}`: label is perception (a false claim), reasoning (all claims true) or
    unknown."""
    checked = []
    for obs in observations(response):
        for c in claims(obs):
            ok, truth = check_claim(c, scene)
            checked.append({"claim": c, "true": ok, "truth": truth})
    false = [c for c in checked if c["true"] is False]
    known = [c for c in checked if c["true"] is not None]
    if false:
        label = "perception"
        evidence = "; ".join(f"said '{c['claim']}' but {c['truth']}" for c in false)
    elif known:
        label = "reasoning"
        evidence = f"all {len(known)} observations match the scene"
    else:
        label = "unknown"
        evidence = "no checkable observation in the trace"
    return {
        "label": label,
        "evidence": evidence,
        "claims": checked,
        "n_false": len(false),
        "n_checked": len(known),
        "counts": dict(Counter(str(c["true"]) for c in checked)),
    }
