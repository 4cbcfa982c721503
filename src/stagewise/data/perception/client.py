"""A minimal OpenAI-compatible chat client (vLLM, SGLang, hosted APIs) on the standard library.

Retries timeouts, connection errors, HTTP 429 and 5xx with exponential backoff; other HTTP errors fail at once.
The API key is read from an environment variable when the client is made and only ever sent in the
Authorization header: it is never logged, stored in a spec or written into an error message.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class EndpointConfig:
    """Where and how to reach an OpenAI-compatible `/chat/completions` endpoint."""

    base_url: str = "http://localhost:8000/v1"
    """Base URL up to and including `/v1`; `/chat/completions` is appended."""
    model: str = ""
    """Model name sent in every request (what the server serves)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (the key itself never appears in any file or log)."""
    concurrency: int = 8
    """Requests in flight at once."""
    timeout_s: float = 60.0
    """Per-request timeout in seconds."""
    max_retries: int = 3
    """Retries after the first attempt for timeouts, connection errors, HTTP 429 and 5xx."""
    backoff_s: float = 1.0
    """First retry waits this long; each further retry waits twice as long as the previous one."""
    max_tokens: int = 512
    """Most tokens the server may generate per reply."""


class EndpointError(RuntimeError):
    """A request that failed for good; `reason` is a short key counted in reports (timeout, http_500, ...)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def image_part(path: str) -> dict:
    """An image as a base64 data URL content part (works with every OpenAI-compatible server)."""
    from PIL import Image

    with Image.open(path) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


class ChatClient:
    def __init__(self, cfg: EndpointConfig):
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._key = os.environ.get(cfg.api_key_env, "")

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient({self.url!r}, model={self.cfg.model!r})"

    def chat(self, content: list[dict] | str, temperature: float = 0.0, max_tokens: int | None = None,
             top_p: float = 1.0, n: int = 1) -> list[str]:
        """The reply texts (`n` of them) for one user message; raises EndpointError after the last retry."""
        body = {"model": self.cfg.model, "messages": [{"role": "user", "content": content}],
                "temperature": temperature, "top_p": top_p, "n": n,
                "max_tokens": max_tokens or self.cfg.max_tokens}
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        err = EndpointError("unknown")
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(self.cfg.backoff_s * 2 ** (attempt - 1))
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                    payload = json.loads(resp.read())
                return [c["message"]["content"] or "" for c in payload["choices"]]
            except urllib.error.HTTPError as e:
                err = EndpointError(f"http_{e.code}", str(e.reason))
                if e.code != 429 and e.code < 500:
                    raise err from None
            except TimeoutError as e:  # socket.timeout is TimeoutError since 3.10
                err = EndpointError("timeout", str(e))
            except urllib.error.URLError as e:
                timed_out = isinstance(e.reason, TimeoutError)
                err = EndpointError("timeout" if timed_out else "connection", str(e.reason))
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
                raise EndpointError("bad_response", type(e).__name__) from None
            except (ConnectionError, OSError) as e:
                err = EndpointError("connection", type(e).__name__)
            log.debug("%s: attempt %d failed (%s)", self.url, attempt + 1, err.reason)
        raise err
