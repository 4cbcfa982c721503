"""Evaluation harness speed: batched vs one-by-one greedy generation of the tiny model, and scoring
throughput.

Run with `python bench/eval_speed.py` (or `make bench-eval`); it prints a Markdown table for BENCHMARKS.md.
Scoring uses the real annotations in ../shared/benchmarks-ref when present, else it is skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from stagewise.eval import harness
from stagewise.eval.backends import TransformersBackend
from stagewise.eval.benchmarks import load_benchmark
from stagewise.eval.benchmarks.world import from_trl_rows
from stagewise.models.load import load_model_and_processor
from stagewise.models.tiny import build_tiny_model, world_corpus
from stagewise.world.build import build_world

log = logging.getLogger("bench")
REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks-ref"


def generation(args, tmp: Path) -> list[tuple[str, float]]:
    from stagewise.data.sources import load_rows, to_trl_rows

    world = build_world(
        tmp / "world", ["perception", "visual"], {"train": 1, "test": args.items // 2}, seed=0
    )
    model_dir = build_tiny_model(args.preset, world_corpus(300), tmp / "model")
    model, proc = load_model_and_processor(model_dir, dtype=torch.float32)
    rows = []
    for fam in ("perception", "visual"):
        rows += from_trl_rows(to_trl_rows(load_rows(world / fam / "test"), instruction=None, source=fam))
    warm = TransformersBackend(model, proc, batch_size=4)
    warm.generate([{"text": r["prompt"], "images": r["images"], "system": None} for r in rows[:4]], 4)
    out = []
    for batch in (1, args.batch_size):
        settings = harness.EvalSettings(max_new_tokens=args.max_new_tokens, batch_size=batch)
        backend = TransformersBackend(model, proc, batch_size=batch)
        t0 = time.perf_counter()
        m = harness.run("world", rows, backend, tmp / f"eval-{batch}", settings)
        wall = time.perf_counter() - t0
        tokens = m["run"]["mean_response_tokens"]
        label = "one by one" if batch == 1 else f"batched ({batch})"
        out.append(
            (
                f"greedy generation + scoring, {label}, ~{tokens:.0f}-token responses (items/s)",
                len(rows) / wall,
            )
        )
    return out


def scoring(tmp: Path) -> list[tuple[str, float]]:
    if not REF.exists():
        log.warning("%s not found: scoring throughput skipped", REF)
        return []
    out = []
    rows = load_benchmark("mathvista", str(REF / "mathvista" / "testmini.json"))
    bard = REF / "mathvista" / "output_bard.json"
    for field in ("extraction", "response"):
        t0 = time.perf_counter()
        harness.score("mathvista", rows, bard, tmp / f"mv-{field}", harness.EvalSettings(), field=field)
        what = "given extractions" if field == "extraction" else "raw responses (extraction rules too)"
        out.append((f"scoring MathVista, 1000 Bard {what} (items/s)", 1000 / (time.perf_counter() - t0)))
    rows = load_benchmark("wemath", str(REF / "wemath" / "testmini.json"))
    preds = tmp / "wemath.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "response": "<Answer>: A"}) + "\n" for r in rows))
    t0 = time.perf_counter()
    harness.score("wemath", rows, preds, tmp / "wm", harness.EvalSettings())
    out.append(
        (
            "scoring WeMath, 1740 responses, four-dimensional metric (items/s)",
            1740 / (time.perf_counter() - t0),
        )
    )
    rows = load_benchmark("mathvision", str(REF / "mathvision" / "testmini.jsonl"))
    preds = tmp / "mathvision.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": r["id"], "response": f"\\boxed{{{r['answer']}+0}}"}) + "\n" for r in rows)
    )
    t0 = time.perf_counter()
    harness.score("mathvision", rows, preds, tmp / "mvis", harness.EvalSettings())
    out.append(
        (
            "scoring MATH-Vision, 304 responses `gold+0` (every one through latex2sympy) (items/s)",
            304 / (time.perf_counter() - t0),
        )
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        results = generation(args, Path(tmp)) + scoring(Path(tmp))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")  # noqa: T201 (bench output)
    print(f"\n| measure ({args.preset}, {args.threads} threads) | value |\n|---|---|")  # noqa: T201
    for name, value in results:
        print(f"| {name} | {value:.1f} |")  # noqa: T201


if __name__ == "__main__":
    main()
