"""Score a model on the world's held-out test splits: accuracy, format rate, trace length.

Per-item results are appended to `items.jsonl` as each batch finishes, so a killed evaluation resumes where it
stopped; `summary.json` is written (atomically) at the end.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections import defaultdict
from pathlib import Path

from rich.progress import Progress

from stagewise.eval.generate import generate
from stagewise.rewards import extract_answer, format_ok, grade
from stagewise.utils import append_jsonl, atomic_write_json, atomic_write_jsonl

log = logging.getLogger(__name__)


def think_text(response: str) -> str:
    start, end = response.find("<think>"), response.find("</think>")
    if start < 0:
        return ""
    return response[start + len("<think>"): end if end > start else len(response)]


def score_item(row: dict, gen: dict, tokenizer) -> dict:
    pred = extract_answer(gen["response"])
    return {
        "id": row["id"],
        "family": row.get("family", ""),
        "kind": row.get("kind", ""),
        "answer": row["answer"],
        "response": gen["response"],
        "extracted": pred,
        "correct": bool(grade(pred, row["answer"], row.get("answer_kind") or "expression")),
        "format_ok": format_ok(gen["response"]),
        "response_tokens": gen["response_tokens"],
        "think_tokens": len(tokenizer(think_text(gen["response"])).input_ids),
        "truncated": gen["truncated"],
    }


def summarize(items: list[dict]) -> dict:
    def stats(group: list[dict]) -> dict:
        return {
            "n": len(group),
            "accuracy": sum(i["correct"] for i in group) / len(group),
            "format_rate": sum(i["format_ok"] for i in group) / len(group),
            "mean_response_tokens": statistics.fmean(i["response_tokens"] for i in group),
            "mean_think_tokens": statistics.fmean(i["think_tokens"] for i in group),
            "truncation_rate": sum(i["truncated"] for i in group) / len(group),
        }

    by_family: dict[str, list[dict]] = defaultdict(list)
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_family[it["family"]].append(it)
        by_kind[f"{it['family']}/{it['kind']}"].append(it)
    return {
        "overall": stats(items) if items else {},
        "families": {k: stats(v) for k, v in sorted(by_family.items())},
        "kinds": {k: stats(v) for k, v in sorted(by_kind.items())},
    }


def evaluate(model, processor, test_sets: dict[str, list[dict]], out_dir: str | Path, batch_size: int = 64,
             max_new_tokens: int = 128) -> dict:
    """Greedy answers for every row of every test set; resumable; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items_path = out / "items.jsonl"
    done: dict[str, dict] = {}
    if items_path.exists():
        for line in items_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a kill: redo that item
                continue
            done[row["id"]] = row
        # Rewrite without any torn line, so appends start on a clean line.
        atomic_write_jsonl(items_path, list(done.values()))
    tokenizer = getattr(processor, "tokenizer", processor)
    todo = [r for rows in test_sets.values() for r in rows if r["id"] not in done]
    model.eval()
    with Progress(transient=True) as progress:
        task = progress.add_task(f"eval {out.name}", total=len(todo))
        for start in range(0, len(todo), batch_size):
            batch = todo[start: start + batch_size]
            # Image and text-only rows are generated in separate batches.
            scored = []
            for group in (
                [r for r in batch if r.get("images")],
                [r for r in batch if not r.get("images")],
            ):
                if group:
                    gens = generate(model, processor, group, max_new_tokens=max_new_tokens)
                    scored += [score_item(r, g, tokenizer) for r, g in zip(group, gens, strict=True)]
            append_jsonl(items_path, scored)
            for s in scored:
                done[s["id"]] = s
            progress.advance(task, len(batch))
    wanted = [r["id"] for rows in test_sets.values() for r in rows]
    summary = summarize([done[i] for i in wanted])
    atomic_write_json(out / "summary.json", summary)
    return summary
