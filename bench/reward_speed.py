"""Reward grading speed: grades per second per answer kind, and the time to grade a group of hostile
completions.

Run with `python bench/reward_speed.py [--mode stagewise|paper]`; it prints a Markdown table for
BENCHMARKS.md. Each "grade" is one completion scored by the mode's TRL reward (extraction, format and
accuracy), as a GRPO step calls it: completions arrive in groups of `--group` per prompt. `unique` rows give
every completion a different answer (no memo hits); `groups` rows draw each group's answers from a few
candidates, as sampled groups do. Before issue 17 there was one mode (today's `stagewise`); the script then
measures that one.
"""

from __future__ import annotations

import argparse
import random
import time

HOSTILE = [
    "\\boxed{1000000!}",
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{9**9**9**9}",
    "\\boxed{((((((((((((((((((((1))))))))))))))))))))}",
    "\\boxed{10^{10^{10}}}",
    "\\boxed{" + "(" * 60 + "x" + ")" * 60 + "}",
    "\\boxed{99999999!!}",
    "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "\\boxed{" + "9" * 400 + "}",
    "\\boxed{\\sqrt{" * 30 + "2" + "}" * 30 + "}",
]


def _answer(kind: str, g: int, repeats: bool, rng: random.Random) -> tuple[str, str]:
    """(gold, boxed answer) of one completion in group `g`: `repeats` draws from a few candidates per group,
    otherwise from thousands (memo hits are then rare)."""
    spread = 3 if repeats else 5000
    if kind == "choice":
        return "ABCD"[g % 4], rng.choice(["B", "(B)", "Option C", "\\text{D}", "A", "C"])
    if kind == "number":
        return str(g % 97), f"{g % 97 + rng.randrange(spread)}"
    # short expressions: a multiple of a root against 2\sqrt{3}, a fraction of pi against \frac{\pi}{6}
    a, b = rng.randrange(1, spread + 1), rng.randrange(2, 5)
    return ("2\\sqrt{3}", f"{a}\\sqrt{{{b}}}") if g % 2 else ("\\frac{\\pi}{6}", f"\\frac{{{a}\\pi}}{{{b}}}")


def _responses(
    kind: str, n: int, group: int, repeats: bool, rng: random.Random
) -> tuple[list[str], list[str]]:
    responses, golds = [], []
    for i in range(n):
        gold, answer = _answer(kind, i // group, repeats, rng)
        responses.append(f"<think>Looking at the figure, the sides are 3 and 4.</think> \\boxed{{{answer}}}")
        golds.append(gold)
    return responses, golds


def _scorer(mode: str):
    try:
        from stagewise.rewards import reward_funcs_for

        funcs, weights = reward_funcs_for(mode)
    except ImportError:  # before issue 17: one mode
        from stagewise.rewards import paper_reward_funcs

        funcs, weights = paper_reward_funcs()

    def score(responses: list[str], golds: list[str]) -> list[float]:
        parts = [f(responses, answer=golds) for f in funcs]
        return [
            sum(w * (p[i] or 0.0) for w, p in zip(weights, parts, strict=True)) for i in range(len(responses))
        ]

    return score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", default="stagewise")
    p.add_argument("--group", type=int, default=8, help="completions per prompt (one reward call per step)")
    p.add_argument("--step", type=int, default=256, help="completions per reward call")
    p.add_argument("--budget", type=float, default=10.0, help="seconds per measurement (at most)")
    args = p.parse_args()
    rng = random.Random(0)
    score = _scorer(args.mode)
    score(["<think>x</think> \\boxed{3/4}"], ["0.75"])  # start the workers
    print("| mode | answers | completions | grades/s |\n|---|---|---|---|")
    for kind in ("choice", "number", "expression"):
        for repeats in (False, True):
            n, t0, done = args.step, time.perf_counter(), 0
            while time.perf_counter() - t0 < args.budget and done < 200_000:
                responses, golds = _responses(kind, n, args.group, repeats, rng)
                score(responses, golds)
                done += n
            rate = done / (time.perf_counter() - t0)
            print(
                f"| {args.mode} | {kind}, {'groups' if repeats else 'unique'} | {done} | {rate:,.0f} |",
                flush=True,
            )
    hostile = [f"<think>t</think> {HOSTILE[i % len(HOSTILE)]}" for i in range(40)]
    t0 = time.perf_counter()
    score(hostile, ["3"] * 20 + ["\\frac{1}{2}"] * 20)
    print(f"\nhostile group of 40 ({args.mode}): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
