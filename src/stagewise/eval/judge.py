"""An optional LLM judge behind an OpenAI-compatible endpoint; its model and prompts go into the metrics."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stagewise.data.prompts import load_prompt
from stagewise.eval.openai_api import chat


@dataclass
class Judge:
    """A judge model; greedy, one user turn rendered from a `prompts/` template."""

    base_url: str
    """Endpoint root, e.g. http://localhost:8000/v1."""
    model: str
    """Model name the endpoint serves."""
    api_key: str | None = None
    """Bearer token, if the endpoint needs one."""
    max_tokens: int = 256
    """Budget of the judge's reply."""
    used: dict[str, str] = field(default_factory=dict)
    """Templates used so far, name -> text (recorded with the metrics)."""

    def ask(self, template: str, **fields) -> str:
        text = load_prompt(template)
        self.used[template] = text
        reply = chat(
            self.base_url,
            self.model,
            [{"role": "user", "content": text.format(**fields)}],
            max_tokens=self.max_tokens,
            temperature=0.0,
            api_key=self.api_key,
        )
        return reply["text"]

    def record(self) -> dict:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "prompts": {
                k: {"sha256": hashlib.sha256(v.encode()).hexdigest()[:16], "text": v}
                for k, v in self.used.items()
            },
        }
