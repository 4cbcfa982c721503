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


def user_message(question: str, has_image: bool, instruction: str | None = "think_boxed") -> list[dict]:
    """The conversational prompt TRL renders with the chat template; the image part comes first."""
    text = question if not instruction else f"{question}\n{load_prompt(instruction)}"
    content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


def assistant_message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
