"""Expected rewards of the paper's own reward function on a messy response set: \
tests/rewards/data/paper_rewards.jsonl.

The paper's code is not part of stagewise. To regenerate the fixture, run its reward function in a scratch
environment that has mathruler (and nothing of stagewise):

    python3 -m venv /tmp/paperenv && /tmp/paperenv/bin/pip install mathruler==0.1.0 pylatexenc sympy
    git clone https://github.com/UCSC-VLAA/VLM-CapCurriculum /tmp/capcurriculum    # or any checkout of it
    PAPER_REWARD_PY=/tmp/capcurriculum/training/reward_functions/math.py \\
        /tmp/paperenv/bin/python bench/make_reward_fixtures.py --out tests/rewards/data/paper_rewards.jsonl

Each row is scored by the paper's `compute_score` in a child process with a time limit; a row the paper's code
does not finish within it is written with `"paper_timeout": true` (paper mode must score its \
accuracy 0 there).
The response set is built here from fixed shapes and a seeded mix, so it is the same on every run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import random
import sys
from pathlib import Path

# (response, gold): every response shape and answer form the issue names, and more.
CASES: list[tuple[str, str]] = [
    ("<think>Count them.</think> \\boxed{3}", "3"),
    ("<think>Count them.</think> The answer: 3", "3"),  # no box
    ("<think>Count them.</think> The answer is 3.", "3"),
    ("<think>Count them.</think> <answer>3</answer>", "3"),
    ("<think>Count them.</think> \\fbox{3}", "3"),
    ("<think>So \\boxed{3}.</think> I am done.", "3"),  # the box inside the think block
    ("<think>So \\boxed{2}.</think> \\boxed{3}", "3"),
    ("<think>So \\boxed{3}.</think> \\boxed{2}", "3"),
    ("< think >Count them.< / think > \\boxed{3}", "3"),  # spaces around < > /
    ("<think >a</ think> \\boxed{3}", "3"),
    ("<think>a</think><think>b</think> \\boxed{3}", "3"),  # two think blocks
    ("<think>a</think> \\boxed{3} <think>b</think>", "3"),
    ("  <think>a</think> \\boxed{3}  ", "3"),
    ("\n<think>a</think> \\boxed{3}\n", "3"),
    ("x<think>a</think> \\boxed{3}", "3"),
    ("<think>a</think> \\boxed{}", "3"),  # empty box
    ("<think>a</think> \\boxed{3", "3"),  # unclosed
    ("<think>a</think> \\boxed {3}", "3"),
    ("<think>a</think> \\boxed{\\boxed{3}}", "3"),
    ("<think>a</think> \\boxed{{3}}", "3"),
    ("<think>a</think>", "3"),
    ("", "3"),
    ("<think>a</think> \\boxed{None}", "None"),
    ("<think>a</think> no box at all", "None"),
    ("<think>a</think> \\boxed{" + "(" * 41 + "3" + ")" * 41 + "}", "3"),  # the paper's "too complex" guard
    ("<think>a</think> \\boxed{" + "(" * 12 + "3" + ")" * 12 + "}", "3"),
    ("<think>a</think> \\boxed{" + "(" * 30 + "1+2" + ")" * 30 + "}", "\\frac{3}{1}"),
    ("<think>a</think> \\boxed{" + "3" * 60 + "}", "3"),
    ("<think>a</think> \\boxed{" + "x+" * 110 + "1}", "3"),
    ("<think>a</think> \\boxed{2^2^2^2^2^2^2^2^2^2^2^2}", "4"),
    ("<think>a</think> \\boxed{1000000!}", "3"),
    ("<think>a</think> \\boxed{9^{9^{9^{9}}}}", "3"),
    ("<think>a</think> \\boxed{\\dfrac{24}{2}}", "12"),
    ("<think>a</think> \\boxed{10^2}", "100"),
    ("<think>a</think> \\boxed{2/4}", "\\frac12"),
    ("<think>a</think> \\boxed{1/2}", "\\frac12"),
    ("<think>a</think> \\boxed{\\frac{1}{2}}", "0.5"),
    ("<think>a</think> \\boxed{0.5}", "\\frac{1}{2}"),
    ("<think>a</think> \\boxed{−4}", "-4"),  # U+2212 minus
    ("<think>a</think> \\boxed{-4}", "-4"),
    ("<think>a</think> \\boxed{3 apples}", "3"),
    ("<think>a</think> \\boxed{3 \\text{ apples}}", "3"),
    ("<think>a</think> \\boxed{3 cm}", "3"),
    ("<think>a</think> \\boxed{option B}", "B"),
    ("<think>a</think> \\boxed{Option B}", "B"),
    ("<think>a</think> \\boxed{B}", "B"),
    ("<think>a</think> \\boxed{b}", "B"),
    ("<think>a</think> \\boxed{(B)}", "B"),
    ("<think>a</think> \\boxed{B.}", "B"),
    ("<think>a</think> \\boxed{B) 12}", "B"),
    ("<think>a</think> \\boxed{\\text{B}}", "B"),
    ("<think>a</think> \\boxed{\\textbf{B}}", "B"),
    ("<think>a</think> \\boxed{A}", "B"),
    ("<think>a</think> \\boxed{A, B}", "B"),
    ("<think>a</think> \\boxed{E}", "E"),
    ("<think>a</think> \\boxed{e}", "E"),
    ("<think>a</think> \\boxed{I}", "E"),
    ("<think>a</think> \\boxed{1 2}", "12"),
    ("<think>a</think> \\boxed{12}", "12"),
    ("<think>a</think> \\boxed{12.0}", "12"),
    ("<think>a</think> \\boxed{12.00000001}", "12"),
    ("<think>a</think> \\boxed{1,000}", "1000"),
    ("<think>a</think> \\boxed{1000}", "1,000"),
    ("<think>a</think> \\boxed{\\$5}", "5"),
    ("<think>a</think> \\boxed{50\\%}", "50"),
    ("<think>a</think> \\boxed{0.5}", "50\\%"),
    ("<think>a</think> \\boxed{\\sqrt{12}}", "2\\sqrt{3}"),
    ("<think>a</think> \\boxed{2\\sqrt{3}}", "2\\sqrt{3}"),
    ("<think>a</think> \\boxed{3\\sqrt{3}}", "2\\sqrt{3}"),
    ("<think>a</think> \\boxed{\\pi/6}", "\\frac{\\pi}{6}"),
    ("<think>a</think> \\boxed{\\frac{\\pi}{6}}", "\\frac{\\pi}{6}"),
    ("<think>a</think> \\boxed{30^\\circ}", "30"),
    ("<think>a</think> \\boxed{30^{\\circ}}", "30"),
    ("<think>a</think> \\boxed{x^2+1}", "1+x^2"),
    ("<think>a</think> \\boxed{(1, 2)}", "(1,2)"),
    ("<think>a</think> \\boxed{(2, 1)}", "(1,2)"),
    ("<think>a</think> \\boxed{[1, 2)}", "[1,2)"),
    ("<think>a</think> \\boxed{x = 3}", "3"),
    ("<think>a</think> \\boxed{k=3}", "3"),
    ("<think>a</think> \\boxed{3.14}", "\\pi"),
    ("<think>a</think> \\boxed{0.333}", "\\frac{1}{3}"),
    ("<think>a</think> \\boxed{007}", "7"),
    ("<think>a</think> \\boxed{-0}", "0"),
    ("<think>a</think> \\boxed{12345678901234567891}", "12345678901234567890"),
    ("<think>a</think> \\boxed{1e3}", "1000"),
    ("<think>a</think> \\boxed{\\infty}", "\\infty"),
    ("<think>a</think> \\boxed{yes}", "Yes"),
    ("<think>a</think> \\boxed{2 and 3}", "2, 3"),
    ("<think>a</think> \\boxed{3} and also \\boxed{4}", "4"),
    ("<think>a</think>\\boxed{3}</answer>", "3"),
    ("<think>a < b and c > d, 1/2</think> \\boxed{1 / 2}", "\\frac{1}{2}"),
    ("<think>a</think> \\boxed{a < b}", "a<b"),
]

RESPONSE_PARTS = [
    "<think>",
    "</think>",
    "< think >",
    "< / think >",
    " ",
    "\n",
    "Let me see. ",
    "\\boxed{",
    "}",
    "{",
    "The answer is ",
    "answer: ",
    "/",
    "<",
    ">",
]
ANSWERS = [
    "3",
    "B",
    "(B)",
    "12",
    "\\frac{1}{2}",
    "0.5",
    "2\\sqrt{3}",
    "\\sqrt{12}",
    "x+1",
    "1+x",
    "-4",
    "12 cm",
    "\\text{C}",
    "option A",
    "1/2",
    "",
    "10^2",
    "100",
]
GOLDS = ["3", "B", "12", "0.5", "\\frac{1}{2}", "2\\sqrt{3}", "1+x", "-4", "12", "C", "100"]


def messy_cases(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """A seeded mix of well-formed and broken responses around a boxed (or unboxed) answer."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        answer = rng.choice(ANSWERS)
        shape = rng.randrange(6)
        think = "".join(rng.choice(RESPONSE_PARTS) for _ in range(rng.randrange(0, 6)))
        if shape == 0:
            response = f"<think>{think}</think> \\boxed{{{answer}}}"
        elif shape == 1:
            response = f"<think>{think}</think> The answer is {answer}."
        elif shape == 2:
            response = f"< think >{think}</ think > \\boxed{{{answer}}}"
        elif shape == 3:
            response = f"{think}\\boxed{{{answer}}}{rng.choice(RESPONSE_PARTS)}"
        elif shape == 4:
            tail = rng.choice(["", " done", " \\boxed{0}"])
            response = f"<think>\\boxed{{{answer}}}{think}</think>{tail}"
        else:
            response = "".join(rng.choice(RESPONSE_PARTS + [answer]) for _ in range(rng.randrange(1, 12)))
        out.append((response, rng.choice(GOLDS + [answer or "3"])))
    return out


def _load_paper(path: str):
    spec = importlib.util.spec_from_file_location("paper_reward_math", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PAPER = None  # the paper's module, loaded once in the parent; each row's child is forked from it


def _score_child(response: str, gold: str, queue) -> None:
    queue.put(_PAPER.compute_score([{"response": response, "ground_truth": gold}])[0])


def paper_score(response: str, gold: str, timeout_s: float) -> dict | None:
    ctx = mp.get_context("fork")
    queue = ctx.Queue(1)
    proc = ctx.Process(target=_score_child, args=(response, gold, queue), daemon=True)
    proc.start()
    proc.join(timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="tests/rewards/data/paper_rewards.jsonl")
    p.add_argument("--random", type=int, default=400, help="seeded messy responses beside the fixed shapes")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds the paper's code gets per row")
    args = p.parse_args()
    path = os.environ.get("PAPER_REWARD_PY")
    if not path or not Path(path).exists():
        print("set PAPER_REWARD_PY to the paper's training/reward_functions/math.py", file=sys.stderr)
        return 2
    global _PAPER
    _PAPER = _load_paper(path)
    rows = []
    for i, (response, gold) in enumerate(CASES + messy_cases(args.random)):
        score = paper_score(response, gold, args.timeout)
        row = {"id": i, "response": response, "answer": gold}
        row.update(
            {"paper_timeout": True}
            if score is None
            else {k: score[k] for k in ("overall", "format", "accuracy")}
        )
        rows.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows -> {args.out}; paper timed out on {sum('paper_timeout' in r for r in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
