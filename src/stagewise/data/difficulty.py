"""Difficulty as a model's pass rate over k samples (the paper: k=16, temperature 0.7, top_p 0.9).

Pass rates are cached per item in a JSONL file (one line per item, appended as each batch finishes), keyed by
item id, model and sampling settings: a killed estimation resumes, and a second curriculum reuses the first's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rich.progress import Progress

from stagewise.data.sources import decode_image
from stagewise.eval.generate import generate
from stagewise.rewards import extract_answer, grade
from stagewise.utils import append_jsonl, library_bars_off

log = logging.getLogger(__name__)


def cache_settings(model_name: str, k: int, temperature: float, top_p: float, max_new_tokens: int) -> dict:
    return {
        "model": model_name,
        "k": k,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
    }


def read_cache(path: Path, settings: dict) -> dict[str, float]:
    """Pass rates already computed with these settings (a torn last line from a kill is ignored)."""
    rates: dict[str, float] = {}
    if not path.exists():
        return rates
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if all(row.get(k) == v for k, v in settings.items()):
            rates[row["id"]] = row["pass_rate"]
    return rates


def estimate_pass_rates(
    model,
    processor,
    rows: list[dict],
    cache_path: str | Path,
    *,
    model_name: str,
    k: int = 16,
    temperature: float = 0.7,
    top_p: float = 0.9,
    max_new_tokens: int = 128,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """id -> share of k sampled answers graded right, for TRL rows (`prompt`, `images`, `answer`, `id`)."""
    import torch

    cache = Path(cache_path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    settings = cache_settings(model_name, k, temperature, top_p, max_new_tokens)
    rates = read_cache(cache, settings)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"difficulty: duplicate item ids {dupes}; pass rates are cached per id")
    todo = [r for r in rows if r["id"] not in rates]
    if not todo:
        return {i: rates[i] for i in ids}
    log.info(
        "difficulty: %d items x %d samples with %s (%d cached)",
        len(todo),
        k,
        model_name,
        len(rows) - len(todo),
    )
    torch.manual_seed(seed)
    model.eval()
    per_batch = max(1, batch_size // k) if batch_size >= k else 1
    with library_bars_off(), Progress(transient=True) as progress:
        task = progress.add_task("pass rates", total=len(todo))
        # Image and text-only rows go in separate batches (one processor call cannot mix them).
        for group in ([r for r in todo if r.get("images")], [r for r in todo if not r.get("images")]):
            for start in range(0, len(group), per_batch):
                batch = group[start : start + per_batch]
                # stage rows keep images encoded; decode this batch's once for its k samples
                decoded = [{**r, "images": [decode_image(i) for i in r.get("images") or []]} for r in batch]
                expanded = [r for r in decoded for _ in range(k)]
                gens = generate(
                    model,
                    processor,
                    expanded,
                    max_new_tokens=max_new_tokens,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                )
                lines = []
                for i, r in enumerate(batch):
                    right = sum(
                        bool(
                            grade(
                                extract_answer(g["response"]),
                                r["answer"],
                                r.get("answer_kind") or "expression",
                            )
                        )
                        for g in gens[i * k : (i + 1) * k]
                    )
                    rates[r["id"]] = right / k
                    lines.append({"id": r["id"], "pass_rate": right / k, "correct": right, **settings})
                append_jsonl(cache, lines)
                progress.advance(task, len(batch))
    return {i: rates[i] for i in ids}


def keep(rate: float, drop_solved: bool, drop_unsolved: bool) -> bool:
    """The paper drops items the model always solves (no signal) and, optionally, never solves."""
    return not ((drop_solved and rate >= 1.0) or (drop_unsolved and rate <= 0.0))


def easy_to_hard(rows: list[dict], rates: dict[str, float]) -> list[dict]:
    """Highest pass rate first; ties keep their order (a stable sort), so the curriculum is deterministic."""
    return sorted(rows, key=lambda r: -rates[r["id"]])
