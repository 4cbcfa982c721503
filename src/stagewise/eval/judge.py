"""An optional LLM judge behind an OpenAI-compatible endpoint; its model and prompts go into the metrics."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stagewise.data.prompts import load_prompt
from stagewise.endpoint import ChatClient, EndpointConfig


@dataclass
class Judge:
    """A judge model; greedy, one user turn rendered from a `prompts/` template."""

    base_url: str
    """Endpoint root, e.g. http://localhost:8000/v1."""
    model: str
    """Model name the endpoint serves."""
    api_key: str | None = field(default=None, repr=False)
    """Bearer token, if the endpoint needs one (read from an environment variable by the caller; never recorded)."""
    max_tokens: int = 256
    """Budget of the judge's reply."""
    timeout_s: float = 120.0
    """Per-request timeout in seconds."""
    max_retries: int = 2
    """Retries after the first attempt (timeouts, connection errors, 429, 5xx)."""
    used: dict[str, str] = field(default_factory=dict)
    """Templates used so far, name -> text (recorded with the metrics)."""
    client: ChatClient = field(init=False, repr=False, compare=False)
    """One client (one connection pool) for every question this judge is asked."""

    def __post_init__(self):
        cfg = EndpointConfig(base_url=self.base_url, model=self.model, api_key_env="", max_tokens=self.max_tokens,
                             timeout_s=self.timeout_s, max_retries=self.max_retries)
        self.client = ChatClient(cfg, api_key=self.api_key or "")

    def ask(self, template: str, **fields) -> str:
        text = load_prompt(template)
        self.used[template] = text
        messages = [{"role": "user", "content": text.format(**fields)}]
        return self.client.complete(messages, max_tokens=self.max_tokens, temperature=0.0).texts[0]

    def record(self) -> dict:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "prompts": {
                k: {"sha256": hashlib.sha256(v.encode()).hexdigest()[:16], "text": v}
                for k, v in self.used.items()
            },
        }
