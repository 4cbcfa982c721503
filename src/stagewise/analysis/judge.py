"""Judge attribution, following the paper: an LLM behind an OpenAI-compatible `/v1/chat/completions` endpoint
reads the question, the gold answer, a description of the image and the model's trace, and names the first
error as perception or reasoning. The prompt is a template file; every verdict (prompt, raw reply, label) is
stored in a per-item cache, so a stopped diagnosis resumes and a rerun asks nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template

from stagewise.data.prompts import load_prompt
from stagewise.utils import append_jsonl

log = logging.getLogger(__name__)
LABELS = ("perception", "reasoning")


@dataclass
class JudgeConfig:
    """Where the judge is and how it is asked."""

    url: str
    """Base URL of the OpenAI-compatible API, e.g. `http://localhost:8000/v1` (`/chat/completions` is added)."""
    model: str
    """Model name sent in the request."""
    template: str = "judge_attribution"
    """Prompt template (`prompts/<name>.txt` or a file path) with $question, $gold, $description, $response."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (sent as a Bearer token when set)."""
    temperature: float = 0.0
    """Sampling temperature (0: the paper's deterministic judging)."""
    max_tokens: int = 256
    """Reply budget."""
    timeout_s: float = 60.0
    """Per-request timeout."""
    retries: int = 3
    """Attempts per item before the verdict is recorded as an error."""


def render_prompt(cfg: JudgeConfig, question: str, gold: str, description: str, response: str) -> str:
    return Template(load_prompt(cfg.template)).substitute(question=question, gold=gold,
                                                          description=description or "(none)", response=response)


def parse_verdict(text: str) -> tuple[str, str]:
    """(label, evidence) from the reply: a JSON object `{"first_error": ..., "evidence": ...}` anywhere in it,
    else the first of the words perception/reasoning; `unknown` when neither is there."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start: end + 1])
            label = str(obj.get("first_error", "")).strip().lower()
            if label in LABELS:
                return label, str(obj.get("evidence", ""))
        except (json.JSONDecodeError, AttributeError):
            pass
    m = re.search(r"\b(perception|reasoning)\b", text, re.IGNORECASE)
    return (m.group(1).lower(), text.strip()[:300]) if m else ("unknown", text.strip()[:300])


def _post(cfg: JudgeConfig, prompt: str) -> str:
    body = json.dumps({"model": cfg.model, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(cfg.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(cfg.url.rstrip("/") + "/chat/completions", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=cfg.timeout_s) as r:
        reply = json.loads(r.read())
    try:
        return reply["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"{cfg.url}: reply has no choices[0].message.content: {str(reply)[:200]}") from e


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
    out = {}
    for it in items:
        prompt = render_prompt(cfg, it["question"], it["gold"], it.get("description", ""), it["response"])
        key = cache_key(cfg, prompt)
        if key in cache:
            out[it["id"]] = cache[key]
            continue
        verdict = {"key": key, "id": it["id"], "model": cfg.model, "prompt": prompt}
        for attempt in range(cfg.retries):
            try:
                raw = _post(cfg, prompt)
                label, evidence = parse_verdict(raw)
                verdict |= {"raw": raw, "label": label, "evidence": evidence}
                break
            except (urllib.error.URLError, TimeoutError, ValueError, OSError) as e:
                log.warning("judge %s: attempt %d failed: %s", it["id"], attempt + 1, e)
                verdict |= {"raw": "", "label": "error", "evidence": str(e)}
                time.sleep(min(4.0, 0.5 * 2 ** attempt))
        append_jsonl(cache_path, [verdict])
        cache[key] = verdict
        out[it["id"]] = verdict
    return out
