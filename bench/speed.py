"""Speed of the embedded default on this machine: SFT step, GRPO step, greedy evaluation throughput.

Run with `make bench`; it prints a Markdown table to paste into BENCHMARKS.md. Never time two trainings side
by side on a 2-core machine.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from stagewise.config import TrainerConfig
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.eval.world_eval import evaluate
from stagewise.models.load import load_model_and_processor
from stagewise.models.tiny import build_tiny_model, world_corpus
from stagewise.train.grpo import run_grpo
from stagewise.train.sft import run_sft
from stagewise.world.build import build_world

log = logging.getLogger("bench")


def grading_speed(n: int = 200) -> list[tuple[str, float]]:
    """math_verify comparisons: the killable worker process (what rewards and evaluation use) vs
    in-process."""
    from stagewise.rewards.verify import math_equal

    pairs = [(r"2\sqrt{2}", r"\sqrt{8}"), ("0.75", r"\frac{3}{4}"), (r"\frac{1}{3}", "0.3333")]
    t0 = time.perf_counter()
    math_equal("1", "1.0")  # starts this thread's worker
    start = time.perf_counter() - t0
    out = [("math_verify worker start (s)", start)]
    for label, timeout in (("worker", 5.0), ("in-process, no timeout", None)):
        t0 = time.perf_counter()
        for i in range(n):
            gold, pred = pairs[i % len(pairs)]
            math_equal(
                gold, pred + " " * (i % 7), timeout_s=timeout
            )  # vary the text: math_verify caches parses
        out.append((f"math_verify comparison, {label} (ms)", 1000 * (time.perf_counter() - t0) / n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world = build_world(tmp / "world", ["perception", "visual", "textual"], {"train": 400, "test": 200})
        model_dir = build_tiny_model(args.preset, world_corpus(500), tmp / "model")

        rows = []
        for fam in ("perception", "visual", "textual"):
            rows += to_trl_rows(load_rows(world / fam / "train"), with_completion=True, instruction=None)
        model, proc = load_model_and_processor(model_dir, dtype=torch.float32)
        t0 = time.perf_counter()
        run_sft(
            model, proc, to_dataset(rows), tmp / "sft", steps=args.steps, batch_size=16, learning_rate=1e-3
        )
        results.append(("SFT step, batch 16 (s)", (time.perf_counter() - t0) / args.steps))

        cfg = TrainerConfig(
            steps=args.steps,
            learning_rate=1e-4,
            prompts_per_step=8,
            group_size=5,
            max_completion_length=64,
            logging_steps=args.steps,
        )
        grpo_rows = to_trl_rows(load_rows(world / "visual" / "train"), instruction=None)
        model, proc = load_model_and_processor(tmp / "sft", dtype=torch.float32)
        t0 = time.perf_counter()
        trainer = run_grpo(model, proc, to_dataset(grpo_rows), tmp / "grpo", cfg)
        step = (time.perf_counter() - t0) / args.steps
        length = [
            h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h
        ]
        results.append((f"GRPO step, 8 prompts x 5, ~{length[-1]:.0f}-token completions (s)", step))

        tests = {
            f: to_trl_rows(load_rows(world / f / "test"), instruction=None) for f in ("perception", "visual")
        }
        t0 = time.perf_counter()
        evaluate(model, proc, tests, tmp / "eval", batch_size=100, max_new_tokens=64)
        results.append(("greedy eval (items/s, batch 100)", 400 / (time.perf_counter() - t0)))

    results += grading_speed()

    print(f"\n| measure ({args.preset}, {args.threads} threads) | value |\n|---|---|")  # noqa: T201 (bench output)
    for name, value in results:
        print(f"| {name} | {value:.3f} |")  # noqa: T201


if __name__ == "__main__":
    main()
