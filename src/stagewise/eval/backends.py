"""Generation backends: transformers (batched, default), vLLM (optional extra), OpenAI-compatible endpoints.

Every backend takes requests `{"id", "text", "images": [PIL], "system": str | None}` and returns, in order,
`{"response", "response_tokens", "truncated"}`. Decoding is greedy unless a temperature is given.
"""

from __future__ import annotations

import logging

from stagewise.endpoint import ChatClient, EndpointConfig, image_part

log = logging.getLogger(__name__)
BACKENDS = ("auto", "transformers", "vllm", "openai")


def chat_messages(text: str, images: list, system: str | None = None) -> list[dict]:
    """Chat messages with the images first in the user turn, as the transformers backend renders them."""
    out = [{"role": "system", "content": system}] if system else []
    content = [image_part(im) for im in images] + [{"type": "text", "text": text}]
    return out + [{"role": "user", "content": content}]


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
    """A served model behind an OpenAI-compatible endpoint; at most `concurrency` requests in flight."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        batch_size: int = 32,
        tokenizer=None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
    ):
        self.base_url, self.model, self.batch_size, self.tokenizer = base_url, model, batch_size, tokenizer
        cfg = EndpointConfig(
            base_url=base_url,
            model=model,
            api_key_env="",
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
        self.client = ChatClient(cfg, api_key=api_key or "")  # the caller read the key from its env variable

    def _one(self, r: dict, max_new_tokens: int) -> dict:
        out = self.client.complete(
            chat_messages(r["text"], r["images"], r.get("system")), max_tokens=max_new_tokens, temperature=0.0
        )
        tokens = out.completion_tokens
        if tokens is None:
            tokens = self.count_tokens(out.texts[0])
        return {
            "response": out.texts[0],
            "response_tokens": tokens,
            "truncated": out.finish_reasons[0] == "length",
        }

    def generate(self, requests: list[dict], max_new_tokens: int) -> list[dict]:
        return self.client.map(lambda r: self._one(r, max_new_tokens), requests)

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
        convs = [chat_messages(r["text"], r["images"], r.get("system")) for r in requests]
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


def resolve_backend(kind: str) -> str:
    """`auto`: vLLM where it is installed and a GPU is there (the `[vllm]` extra), else transformers."""
    if kind != "auto":
        return kind
    import importlib.util

    import torch

    return (
        "vllm"
        if torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
        else "transformers"
    )


def make_backend(
    kind: str,
    model: str,
    batch_size: int = 16,
    base_url: str | None = None,
    api_key: str | None = None,
    tokenizer: str | None = None,
    concurrency: int = 8,
    dtype: str = "auto",
    attn_implementation: str | None = None,
    max_retries: int = 2,
):
    """A backend by name; `model` is a folder or hub id (transformers, vllm) or a served model (openai). The
    transformers backend loads on the GPU when there is one, in `dtype` (`auto`: bf16 on CUDA, fp32 on
    CPU)."""
    kind = resolve_backend(kind)
    if kind == "transformers":
        from stagewise.models.load import load_for_inference

        m, p = load_for_inference(model, dtype, attn_implementation)
        return TransformersBackend(m, p, batch_size=batch_size)
    if kind == "vllm":
        from stagewise.models.load import resolve_dtype

        return VLLMBackend(
            str(model), batch_size=batch_size, dtype=str(resolve_dtype(dtype)).removeprefix("torch.")
        )
    if kind == "openai":
        if not base_url:
            raise ValueError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
        tok = None
        if tokenizer:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(tokenizer)
        return OpenAIBackend(
            base_url,
            model,
            api_key=api_key,
            concurrency=concurrency,
            batch_size=batch_size,
            tokenizer=tok,
            max_retries=max_retries,
        )
    raise ValueError(f"unknown backend {kind!r}; expected one of {BACKENDS}")
