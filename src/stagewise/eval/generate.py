"""Batched greedy generation with any HF VLM and its processor (left padding, image and text-only rows)."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def _messages(row: dict) -> list[dict]:
    """TRL-style rows keep the prompt text separate from the images; put image parts in for generation."""
    prompt = row["prompt"]
    msgs = []
    first_user = next((i for i, m in enumerate(prompt) if m["role"] == "user"), None)
    for i, m in enumerate(prompt):
        content = m["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if i == first_user:  # after an optional system turn
            content = [{"type": "image"} for _ in row.get("images") or []] + list(content)
        msgs.append({"role": m["role"], "content": content})
    return msgs


@torch.no_grad()
def generate(
    model,
    processor,
    rows: list[dict],
    max_new_tokens: int = 128,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
) -> list[dict]:
    """One batch: returns `{"response", "response_tokens", "truncated"}` per row, in order."""
    tok = getattr(processor, "tokenizer", processor)
    tok.padding_side = "left"
    texts = [
        processor.apply_chat_template(_messages(r), add_generation_prompt=True, tokenize=False) for r in rows
    ]
    images = [list(r.get("images") or []) for r in rows]
    kwargs = {"text": texts, "padding": True, "return_tensors": "pt"}
    if any(images):
        if not all(images):
            raise ValueError("a generation batch mixes image and text-only rows; batch them separately")
        kwargs["images"] = images
    # pixel values in the model's dtype: SigLIP-style towers do not cast float32 pixels for a bfloat16 model
    inputs = processor(**kwargs).to(model.device, dtype=model.dtype)
    gen = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "pad_token_id": tok.pad_token_id}
    if do_sample:
        gen.update(temperature=temperature, top_p=top_p)
    out = model.generate(**inputs, **gen)
    new = out[:, inputs["input_ids"].shape[1] :]
    eos = {tok.eos_token_id, tok.pad_token_id}
    results = []
    for seq in new.tolist():
        n = next((i for i, t in enumerate(seq) if t in eos), None)
        body = seq if n is None else seq[:n]
        results.append(
            {
                "response": tok.decode(body, skip_special_tokens=True),
                "response_tokens": len(body),
                "truncated": n is None,
            }
        )
    return results
