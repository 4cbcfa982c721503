"""A minimal client for OpenAI-compatible chat endpoints (vLLM serve, SGLang, TGI, OpenAI): stdlib only."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import urllib.error
import urllib.request

from PIL import Image

log = logging.getLogger(__name__)


class EndpointError(RuntimeError):
    """The endpoint answered with an error or an unexpected body."""


def image_url(image: Image.Image) -> dict:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
    }


def messages(text: str, images: list[Image.Image], system: str | None = None) -> list[dict]:
    """Chat messages with the images first in the user turn, as the transformers backend renders them."""
    out = [{"role": "system", "content": system}] if system else []
    content = [image_url(im) for im in images] + [{"type": "text", "text": text}]
    return out + [{"role": "user", "content": content}]


def chat(
    base_url: str,
    model: str,
    msgs: list[dict],
    max_tokens: int,
    temperature: float = 0.0,
    api_key: str | None = None,
    timeout: float = 120.0,
    retries: int = 3,
) -> dict:
    """One chat completion -> `{"text", "completion_tokens", "finish_reason"}`; retries transient errors."""
    body = json.dumps(
        {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": temperature}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = base_url.rstrip("/") + "/chat/completions"
    for attempt in range(retries):
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = json.loads(resp.read())
            break
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == retries - 1:
                raise EndpointError(f"{url}: HTTP {e.code}: {e.read()[:300]!r}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if attempt == retries - 1:
                raise EndpointError(f"{url}: {e}") from e
        time.sleep(2**attempt)
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as e:
        raise EndpointError(f"{url}: unexpected reply {str(data)[:300]}") from e
    usage = data.get("usage") or {}
    return {
        "text": text,
        "completion_tokens": usage.get("completion_tokens"),
        "finish_reason": choice.get("finish_reason"),
    }
