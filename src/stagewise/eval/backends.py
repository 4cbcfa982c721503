"""Generation backends: transformers (batched, default), vLLM (optional extra), OpenAI-compatible endpoints.

Every backend takes requests `{"id", "text", "images": [PIL], "system": str | None}` and returns, in order,
`{"response", "response_tokens", "truncated"}`. Decoding is greedy unless a temperature is given.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from stagewise.eval import openai_api

log = logging.getLogger(__name__)
BACKENDS = ("transformers", "vllm", "openai")


class TransformersBackend:
    """Batched greedy generation with any HF VLM (left padding); image and text-only requests batch apart."""

    name = "transformers"

    def __init__(self, model, processor, batch_size: int = 16):
        self.model, self.processor, self.batch_size = model, processor, batch_size
        self.tokenizer = getattr(processor, "tokenizer", processor)

    def generate(self, requests: list[dict], max_new_tokens: int) -> list[dict]:
        from stagewise.eval.generate import generate

        rows = []
        for r in requests:
            prompt = ([{"role": "system", "content": r["system"]}] if r.get("system") else []) + [
                {"role": "user", "content": r["text"]}
            ]
            rows.append({"prompt": prompt, "images": r["images"]})
        self.model.eval()
        return generate(self.model, self.processor, rows, max_new_tokens=max_new_tokens)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids) if text else 0


class OpenAIBackend:
    """A served model behind an OpenAI-compatible endpoint; requests go out concurrently."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        workers: int = 8,
        batch_size: int = 32,
        tokenizer=None,
    ):
        self.base_url, self.model, self.api_key, self.workers = base_url, model, api_key, workers
        self.batch_size, self.tokenizer = batch_size, tokenizer

    def _one(self, r: dict, max_new_tokens: int) -> dict:
        out = openai_api.chat(
            self.base_url,
            self.model,
            openai_api.messages(r["text"], r["images"], r.get("system")),
            max_tokens=max_new_tokens,
            api_key=self.api_key,
        )
        tokens = out["completion_tokens"]
        if tokens is None:
            tokens = self.count_tokens(out["text"])
        return {
            "response": out["text"],
            "response_tokens": tokens,
            "truncated": out["finish_reason"] == "length",
        }

    def generate(self, requests: list[dict], max_new_tokens: int) -> list[dict]:
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda r: self._one(r, max_new_tokens), requests))

    def count_tokens(self, text: str) -> int | None:
        """Exact with a tokenizer; None without one (the endpoint reports only whole-response counts)."""
        if self.tokenizer is None:
            return None
        return len(self.tokenizer(text, add_special_tokens=False).input_ids) if text else 0


class VLLMBackend:
    """Offline vLLM (`pip install vllm`, a GPU); same chat rendering as the endpoint backend."""

    name = "vllm"

    def __init__(self, model: str, batch_size: int = 256, **llm_kwargs):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm backend needs vLLM: pip install vllm (GPU machines)") from e
        self.llm = LLM(model=model, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.batch_size = batch_size

    def generate(self, requests: list[dict], max_new_tokens: int) -> list[dict]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        convs = [openai_api.messages(r["text"], r["images"], r.get("system")) for r in requests]
        outs = self.llm.chat(convs, params, use_tqdm=False)
        return [
            {
                "response": o.outputs[0].text,
                "response_tokens": len(o.outputs[0].token_ids),
                "truncated": o.outputs[0].finish_reason == "length",
            }
            for o in outs
        ]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids) if text else 0


def make_backend(
    kind: str,
    model: str,
    batch_size: int = 16,
    base_url: str | None = None,
    api_key: str | None = None,
    tokenizer: str | None = None,
):
    """A backend by name; `model` is a folder or hub id (transformers, vllm) or a served model (openai)."""
    if kind == "transformers":
        import torch

        from stagewise.models.load import load_model_and_processor

        m, p = load_model_and_processor(
            model,
            dtype=torch.float32 if not torch.cuda.is_available() else "auto",
            device_map="auto" if torch.cuda.is_available() else None,
        )
        return TransformersBackend(m, p, batch_size=batch_size)
    if kind == "vllm":
        return VLLMBackend(model, batch_size=batch_size)
    if kind == "openai":
        if not base_url:
            raise ValueError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
        tok = None
        if tokenizer:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(tokenizer)
        return OpenAIBackend(base_url, model, api_key=api_key, batch_size=batch_size, tokenizer=tok)
    raise ValueError(f"unknown backend {kind!r}; expected one of {BACKENDS}")
