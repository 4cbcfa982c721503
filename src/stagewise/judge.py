"""The LLM judge, behind any OpenAI-compatible endpoint (through the one client, stagewise.endpoint).

Two uses, one module:
- **Benchmark judge modes** (`stagewise eval --judge-url`): `Judge.ask(template, **fields)` renders a
  `prompts/` template (`str.format` fields) into one greedy user turn; the benchmarks whose official scorer
  uses an LLM call it from their `judge` (stagewise.eval.benchmarks); the model and every template used go
  into the metrics.
- **Error attribution** (`stagewise diagnose`, following the paper): `judge_items` asks the judge to read the
  question, the gold answer, a description of the image and the model's trace, and to name the first error as
  perception or reasoning (`JudgeConfig.template`, `$`-fields). Every verdict (prompt, raw reply, label) is
  stored in a per-item cache, so a stopped diagnosis resumes and a rerun asks nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from stagewise.data.prompts import load_prompt
from stagewise.endpoint import ChatClient, EndpointConfig, EndpointError
from stagewise.utils import append_jsonl

log = logging.getLogger(__name__)
LABELS = ("perception", "reasoning")


# ------------------------------------------------------------------------------------- benchmark judge modes
@dataclass
class Judge:
    """A judge model; greedy, one user turn rendered from a `prompts/` template."""

    base_url: str
    """Endpoint root, e.g. http://localhost:8000/v1."""
    model: str
    """Model name the endpoint serves."""
    api_key: str | None = field(default=None, repr=False)
    """Bearer token, if the endpoint needs one (read from an environment variable by the caller; never
    recorded)."""
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
        cfg = EndpointConfig(
            base_url=self.base_url,
            model=self.model,
            api_key_env="",
            max_tokens=self.max_tokens,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )
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


# ------------------------------------------------------------------------------------------ error attribution
@dataclass
class JudgeConfig:
    """Where the attribution judge is and how it is asked."""

    url: str
    """Base URL of the OpenAI-compatible API, e.g. `http://localhost:8000/v1` (`/chat/completions` is
    added)."""
    model: str
    """Model name sent in the request."""
    template: str = "judge_attribution"
    """Prompt template (`prompts/<name>.txt` or a file path) with $question, $gold, $description,
    $response."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (sent as a Bearer token when set)."""
    temperature: float = 0.0
    """Sampling temperature (0: the paper's deterministic judging)."""
    max_tokens: int = 256
    """Reply budget."""
    timeout_s: float = 60.0
    """Per-request timeout."""
    retries: int = 3
    """Attempts per item (timeouts, connection errors, 429 and 5xx are retried) before the verdict is recorded
    as an error."""
    backoff_s: float = 0.5
    """First retry waits this long, each further retry twice as long (a server's Retry-After is waited
    instead)."""
    concurrency: int = 1
    """Items asked at once (1: one after another, the cache in item order)."""


def endpoint_config(cfg: JudgeConfig) -> EndpointConfig:
    """The judge's endpoint settings (its key stays in the environment variable)."""
    return EndpointConfig(
        base_url=cfg.url,
        model=cfg.model,
        api_key_env=cfg.api_key_env,
        concurrency=cfg.concurrency,
        timeout_s=cfg.timeout_s,
        max_retries=max(0, cfg.retries - 1),
        backoff_s=cfg.backoff_s,
        max_tokens=cfg.max_tokens,
    )


def render_prompt(cfg: JudgeConfig, question: str, gold: str, description: str, response: str) -> str:
    return Template(load_prompt(cfg.template)).substitute(
        question=question, gold=gold, description=description or "(none)", response=response
    )


def parse_verdict(text: str) -> tuple[str, str]:
    """(label, evidence) from the reply: a JSON object `{"first_error": ..., "evidence": ...}` anywhere in it,
    else the first of the words perception/reasoning; `unknown` when neither is there."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
            label = str(obj.get("first_error", "")).strip().lower()
            if label in LABELS:
                return label, str(obj.get("evidence", ""))
        except (json.JSONDecodeError, AttributeError):
            pass
    m = re.search(r"\b(perception|reasoning)\b", text, re.IGNORECASE)
    return (m.group(1).lower(), text.strip()[:300]) if m else ("unknown", text.strip()[:300])


def ask(client: ChatClient, cfg: JudgeConfig, prompt: str) -> str:
    """The judge's reply (redacted by the client) to one prompt; raises EndpointError after the last
    attempt."""
    return client.complete(
        [{"role": "user", "content": prompt}], max_tokens=cfg.max_tokens, temperature=cfg.temperature
    ).texts[0]


def cache_key(cfg: JudgeConfig, prompt: str) -> str:
    return hashlib.sha1(f"{cfg.model}\n{prompt}".encode()).hexdigest()


def judge_items(cfg: JudgeConfig, items: list[dict], cache_path: Path) -> dict[str, dict]:
    """Verdicts for `items` (each `{id, question, gold, description, response}`), id -> verdict; items already
    in the cache (same model and prompt) are not asked again. Each new verdict is appended as it arrives."""
    cache: dict[str, dict] = {}
    if cache_path.exists():
        for line in cache_path.read_text().splitlines():
            try:
                v = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a kill
                continue
            if v.get("label") != "error":
                cache[v["key"]] = v
    keys, todo = {}, {}
    for it in items:
        prompt = render_prompt(cfg, it["question"], it["gold"], it.get("description", ""), it["response"])
        key = keys[it["id"]] = cache_key(cfg, prompt)
        if key not in cache and key not in todo:
            todo[key] = {"key": key, "id": it["id"], "model": cfg.model, "prompt": prompt}
    if todo:
        client = ChatClient(endpoint_config(cfg))

        def one(verdict: dict) -> dict:
            try:
                raw = ask(client, cfg, verdict["prompt"])
            except EndpointError as e:  # already retried; the message names the endpoint and holds no key
                log.warning("judge %s: %s", verdict["id"], e)
                return verdict | {"raw": "", "label": "error", "evidence": str(e)}
            label, evidence = parse_verdict(raw)
            return verdict | {"raw": raw, "label": label, "evidence": evidence}

        try:
            for _, verdict in client.each(one, list(todo.values())):  # each appended as it arrives
                append_jsonl(cache_path, [verdict])
                cache[verdict["key"]] = verdict
        finally:
            client.close()
    return {i: cache[k] for i, k in keys.items()}
