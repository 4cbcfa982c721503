"""Prompt text and chat messages. One instruction for every stage, appended to the question (the paper's)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parents[3] / "prompts"


@cache
def load_prompt(name: str) -> str:
    """A template from the repo's `prompts/` folder (stagewise installs editable) or an explicit file path."""
    path = Path(name)
    if not path.exists():
        path = PROMPTS_DIR / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"prompt template {name!r} not found in {PROMPTS_DIR}")
    return path.read_text().strip()


def assistant_message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
