"""The one OpenAI-compatible chat client of the package (vLLM, SGLang, TGI, hosted APIs), on the `openai`
package.

Everything that talks to a served model goes through `ChatClient`: the perception writer and filter, the eval
backend, the eval judge and the diagnosis judge. The `openai` package gives timeouts, retries with exponential
backoff (timeouts, connection errors, HTTP 408/409/429 and 5xx; other HTTP errors fail at once), honours a
server's `Retry-After` / `retry-after-ms`, and reuses connections: make one client per endpoint and share it
across calls and threads. On top of it this module adds:

- bounded concurrency: at most `EndpointConfig.concurrency` requests in flight per client, whatever the number
  of calling threads (`ChatClient.each` runs a function over items on a pool of that size);
- one exception, `EndpointError`, with a short `reason` (timeout, connection, http_500, bad_response) and a
  message naming the endpoint, the model, the HTTP status and the error body (redacted, truncated);
- redaction at the boundary: the API key (read from the environment variable named in the config, never stored
  in a config file) is replaced by `***` in every reply text and error message, so no cache, items file, log
  line or traceback downstream can hold it, even from a server that echoes it back.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import openai

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

REDACTED = "***"
ERROR_BODY_CHARS = 300
"""Most characters of an error body quoted in an `EndpointError` message."""
MAX_BACKOFF_S = 30.0
"""Longest wait between two attempts (the first waits `backoff_s`, each further one twice as long)."""
_MIN_SECRET = 4  # a shorter "secret" would blank ordinary text (and is no secret)
_CREDENTIAL_RE = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;}\]]+|\bsk-[A-Za-z0-9_\-]{6,}")


def redact(text: str, secrets: Iterable[str | None] = (), credentials: bool = True) -> str:
    """`text` with every secret (4 characters or more) replaced by `***`; with `credentials`, also whatever
    looks like one (`Bearer <token>`, `sk-...`). Model replies are redacted with `credentials=False`: they are
    data, and only the actual key is taken out of them."""
    if not text:
        return text
    for s in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    if credentials:
        text = _CREDENTIAL_RE.sub(lambda m: (m.group(1) or "") + REDACTED, text)
    return text


def _truncate(text: str, n: int = ERROR_BODY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


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
    """Most requests in flight at once through one client (all calling threads together)."""
    timeout_s: float = 60.0
    """Per-request timeout in seconds."""
    max_retries: int = 3
    """Retries after the first attempt for timeouts, connection errors, HTTP 408/409/429 and 5xx."""
    backoff_s: float = 1.0
    """First retry waits this long (jittered down by up to 25%); each further retry twice as long, at most
    `MAX_BACKOFF_S`. A server's `Retry-After` (up to 60 s) is waited instead."""
    max_tokens: int = 512
    """Most tokens the server may generate per reply (when a call gives none)."""


class EndpointError(RuntimeError):
    """A request that failed for good; `reason` is a short key counted in reports (timeout, http_500, ...) and
    `status` the HTTP status, if any. The message is redacted: it never holds the API key."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.status = status


@dataclass
class Completion:
    """One chat completion: the reply texts (redacted), one per choice, and what the server said about
    them."""

    texts: list[str]
    finish_reasons: list[str | None] = field(default_factory=list)
    completion_tokens: int | None = None
    """Tokens generated over all choices, when the server reports usage."""


def image_part(image: str | Path | Any) -> dict:
    """An image (a file path, read as RGB, or a PIL image, as is) as a base64 PNG data URL content part (works
    with every OpenAI-compatible server)."""
    from PIL import Image

    buf = io.BytesIO()
    if isinstance(image, str | Path):
        with Image.open(image) as im:
            im.convert("RGB").save(buf, format="PNG")
    else:
        image.save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


class _OpenAI(openai.OpenAI):
    # Deviation: the package's first retry waits a fixed 0.5 s (INITIAL_RETRY_DELAY, no public setting); the
    # config's `backoff_s` (and the CLI's --backoff) sets it here. A server's Retry-After still goes through
    # the package's own code. Should the package rename this hook, its own backoff simply applies.
    def __init__(self, *, backoff_s: float, **kw):
        super().__init__(**kw)
        self._backoff_s = backoff_s

    def _calculate_retry_timeout(self, remaining_retries, options, response_headers=None):
        package = super()._calculate_retry_timeout(remaining_retries, options, response_headers)
        if self._parse_retry_after_header(response_headers) is not None:
            return package
        n = options.get_max_retries(self.max_retries) - remaining_retries
        return min(self._backoff_s * 2**n, MAX_BACKOFF_S) * (1 - 0.25 * random.random())


class ChatClient:
    """One OpenAI-compatible endpoint: a pooled `openai.OpenAI` client, shared by every call and thread."""

    def __init__(self, cfg: EndpointConfig, api_key: str | None = None):
        """`api_key` overrides the environment variable named by `cfg.api_key_env` (for callers that read it
        themselves); without either no Authorization header is sent."""
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        key = api_key if api_key is not None else os.environ.get(cfg.api_key_env or "", "")
        self._secrets = (key,) if key else ()
        # The package refuses to run without a key; a local server needs none, so then the placeholder is
        # never sent (the header is omitted per request, as the old clients did).
        self._headers = None if key else {"Authorization": openai.Omit()}
        self._slots = threading.BoundedSemaphore(max(1, cfg.concurrency))
        self._client = _OpenAI(
            backoff_s=cfg.backoff_s,
            base_url=cfg.base_url.rstrip("/"),
            api_key=key or "no-key",
            timeout=cfg.timeout_s,
            max_retries=max(0, cfg.max_retries),
        )

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient({self.url!r}, model={self.cfg.model!r})"

    def redact(self, text: str, credentials: bool = True) -> str:
        """`text` without this client's key (see `redact`)."""
        return redact(text, self._secrets, credentials)

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
    ) -> Completion:
        """One chat completion (parameters left None are not sent, but `max_tokens` defaults to the config's);
        raises EndpointError after the last retry."""
        kw = {k: v for k, v in (("temperature", temperature), ("top_p", top_p), ("n", n)) if v is not None}
        with self._slots:
            try:
                reply = self._client.chat.completions.create(
                    model=self.cfg.model,
                    messages=messages,
                    max_tokens=max_tokens or self.cfg.max_tokens,
                    extra_headers=self._headers,
                    **kw,
                )
            except openai.OpenAIError as e:
                raise self._error(e) from None  # from None: the package's exception may quote the key
        try:
            choices = reply.choices
            texts = [self.redact(c.message.content or "", credentials=False) for c in choices]
            finish = [getattr(c, "finish_reason", None) for c in choices]
        except (AttributeError, TypeError) as e:
            raise EndpointError(
                "bad_response",
                f"{self._where()}: no choices[].message.content in the reply "
                f"({type(e).__name__}): {_truncate(self.redact(str(reply)))}",
            ) from None
        if not texts:
            raise EndpointError("bad_response", f"{self._where()}: the reply has no choices")
        usage = getattr(reply, "usage", None)
        tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
        return Completion(texts, finish, tokens if isinstance(tokens, int) else None)

    def chat(
        self,
        content: list[dict] | str,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        top_p: float = 1.0,
        n: int = 1,
    ) -> list[str]:
        """The reply texts (`n` of them) for one user message; raises EndpointError after the last retry."""
        return self.complete(
            [{"role": "user", "content": content}],
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            n=n,
        ).texts

    def each(self, fn: Callable[[T], R], items: list[T]) -> Iterator[tuple[int, R]]:
        """`(index, fn(item))` as each finishes, on `cfg.concurrency` threads (an exception in `fn` is
        raised)."""
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            futures = {pool.submit(fn, it): i for i, it in enumerate(items)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    def map(self, fn: Callable[[T], R], items: list[T]) -> list[R]:
        """`[fn(item) for item in items]`, in order, on `cfg.concurrency` threads."""
        out: list = [None] * len(items)
        for i, r in self.each(fn, items):
            out[i] = r
        return out

    def close(self) -> None:
        self._client.close()

    def _where(self) -> str:
        return f"{self.url} (model {self.cfg.model!r})"

    def _error(self, e: openai.OpenAIError) -> EndpointError:
        attempts = self.cfg.max_retries + 1
        if isinstance(e, openai.APITimeoutError):
            return EndpointError(
                "timeout",
                f"{self._where()}: no reply within {self.cfg.timeout_s:g} s ({attempts} attempt(s))",
            )
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__
            why = f"{type(cause).__name__}: {cause}" if cause else str(e)
            return EndpointError(
                "connection",
                f"{self._where()}: cannot connect ({attempts} attempt(s)): {_truncate(self.redact(why))}",
            )
        if isinstance(e, openai.APIStatusError):
            try:
                body = e.response.text
            except Exception:  # a body that cannot be read back: say so rather than fail here
                body = ""
            body = _truncate(self.redact(body)) or "(empty body)"
            return EndpointError(
                f"http_{e.status_code}",
                f"{self._where()}: HTTP {e.status_code}: {body}",
                status=e.status_code,
            )
        return EndpointError(
            "bad_response", f"{self._where()}: {type(e).__name__}: {_truncate(self.redact(str(e)))}"
        )
