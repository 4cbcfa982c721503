"""The perception filter's rule, apart from the filter's machinery so that the recipe (stagewise.config) can
embed it without loading the engine: how often and how long each item is asked, how a letter is read from an
answer, and when an item is kept."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

Extraction = Literal["paper", "boxed"]
EXTRACTIONS = typing.get_args(Extraction)


@dataclass
class FilterRule:
    """How the filter asks and decides, whichever models it asks
    (stagewise.data.perception.filter.FilterConfig adds them; a recipe's `perception_set` section is this rule
    and the set's own settings)."""

    samples: int = 1
    """Answers per (item, model, view): 1 is one greedy pass (the paper); k > 1 samples k and uses pass
    rates."""
    max_new_tokens: int = 8
    """Most tokens per answer (the paper: 8; a model that thinks first needs its whole trace)."""
    extraction: Extraction = "paper"
    """`paper`: the letter after `answer:`, else the first standalone A-D; `boxed`: the final answer's letter,
    for models that think before answering, such as the tiny base (give them more than 8 new tokens)."""
    min_image_wrong: float = 1.0
    """Keep an item only if at least this share of its image answers name a wrong letter (an empty answer is
    not wrong; the paper: every one)."""
    min_caption_right: float = 1.0
    """... and at least this share of its caption answers name the right letter (the paper: every one)."""
