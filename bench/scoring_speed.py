"""Scoring throughput per benchmark: responses scored per second by each benchmark's default (official) mode,
on messy think/boxed and free-text responses (no model, no judge).

    .venv/bin/python bench/scoring_speed.py [--n 2000]

Each benchmark scores `n` responses cycled from a small messy set against a benchmark-shaped row; the figure
is the median of three passes. Results go to BENCHMARKS.md ("Evaluation harness")."""

import argparse
import statistics
import time

from stagewise.eval import harness
from stagewise.eval.benchmarks import get_benchmark

MC = {
    "question_type": "multi_choice",
    "answer_type": "text",
    "choices": ["3", "4", "5", "6"],
    "answer": "4",
    "precision": None,
    "prompt": "q",
}
ROWS = {
    "mathvista": MC,
    "mathvision": {"answer": "12", "options": []},
    "mathverse": {"answer": "12", "question_type": "free-form"},
    "wemath": {"answer": "B", "option": "A. 1;B. 2"},
    "logicvista": {"answer": "B"},
    "dynamath": {"answer": "3.5", "answer_type": "float"},
    "hallusionbench": {"answer": "1", "category": "VD", "figure_id": "1"},
    "mmstar": {"answer": "B"},
    "aokvqa": {"answer": "B", "choices": ["cat", "dog", "bird", "fish"]},
    "realworldqa": {"answer": "B"},
    "pope": {"answer": "no"},
    "chartqa": {"answers": ["42"]},
    "textvqa": {"answers": ["nokia"] * 7 + ["nokia phone"] * 3},
    "blink": {"choices": ["(A) left", "(B) right"], "answer": "(A)"},
    "visonlyqa_real": {"options": ["True", "False"], "question_type": "single_answer", "answer": "True"},
    "cvbench_2d": {"answer": "(B)"},
    "vstar": {"answer": "B"},
}
RESPONSES = [
    "<think>Could it be 3? No, count again.</think> \\boxed{B}",
    "The answer is B.",
    "  b. ",
    "<think>12 or 4?</think> \\boxed{12}",
    "Answer: (A) left",
    "No, there is not.",
    "",
    "I think the Answer is: D. Actually 42.",
    "<think>Yes.</think> \\boxed{Yes}",
    "nokia",
]


def rate(name: str, n: int) -> float:
    bench, row = get_benchmark(name), ROWS[name]
    settings = harness.EvalSettings()
    passes = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            harness.score_response(bench, row, RESPONSES[i % len(RESPONSES)], settings)
        passes.append(n / (time.perf_counter() - t))
    return statistics.median(passes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    print("| benchmark | responses scored per second (official mode) |")
    print("|---|---|")
    for name in ROWS:
        print(f"| {name} | {rate(name, args.n):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
