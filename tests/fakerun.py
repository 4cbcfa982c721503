"""A small fake run directory (no training): real world data, eval rows made from the reference traces with
known errors, manifests and trainer logs. Every wrong item's cause is known by construction:
- a *perception* error raises the first digit of the first "I see" sentence (always a false claim) and
  changes the boxed answer;
- a *reasoning* error keeps the observations and changes only the boxed answer.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from stagewise.data.sources import load_rows

FATES = ("right", "perception", "reasoning")


def _wrong_answer(answer: str) -> str:
    return {"A": "B", "B": "C", "C": "D", "D": "A"}.get(
        answer, str(int(answer) + 1) if answer.isdigit() else "0"
    )


def _bump_first_digit(trace: str) -> str | None:
    m = re.search(r"I see [^.]*?(\d)", trace)
    if not m:
        return None
    d = int(m.group(1))
    return trace[: m.start(1)] + str(d + 1 if d < 9 else d - 1) + trace[m.end(1) :]


def make_response(row: dict, fate: str) -> dict:
    """An eval row for `row` answered with the given fate (`right`, `perception` or `reasoning`)."""
    trace, answer = row["solution"], str(row["answer"])
    if fate == "perception":
        trace = _bump_first_digit(trace)
        assert trace is not None, "perception errors need a digit in the observation"
    if fate != "right":
        trace = trace.rsplit("\\boxed{", 1)[0] + "\\boxed{" + _wrong_answer(answer) + "}"
    extracted = trace.rsplit("\\boxed{", 1)[1].rstrip("}")
    think = trace[trace.find("<think>") + 7 : trace.find("</think>")]
    return {
        "id": row["id"],
        "family": row["family"],
        "kind": row["kind"],
        "answer": answer,
        "response": trace,
        "extracted": extracted,
        "correct": fate == "right",
        "format_ok": True,
        "response_tokens": len(trace.split()),
        "think_tokens": len(think.split()),
        "truncated": False,
    }


def fate_for(row: dict, i: int, shift: int) -> str:
    """Cycle through the fates; items with no digit in their observation cannot carry a perception error."""
    fate = FATES[(i + shift) % 3]
    if fate == "perception" and (row["family"] == "textual" or _bump_first_digit(row["solution"]) is None):
        return "reasoning"
    return fate


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def trainer_log(steps: int, length: float) -> list[dict]:
    return [
        {
            "step": s,
            "reward": 0.1 * s,
            "rewards/accuracy_reward/mean": 0.05 * s,
            "rewards/format_reward/mean": 1.0,
            "completions/mean_length": length - s,
            "kl": 0.001 * s,
            "entropy": 0.5 - 0.02 * s,
            "clip_ratio/region_mean": 0.001 * s,
            "clip_ratio/low_mean": 0.0004 * s,
            "clip_ratio/high_mean": 0.0006 * s,
            "loss": 0.0,
        }
        for s in range(2, steps + 1, 2)
    ]


def make_run(world_dir: Path, run_dir: Path, variants: dict[str, list[str]] | None = None) -> dict:
    """Write the fake run; returns {model label: {item id: fate}}."""
    variants = variants or {"staged": ["perception", "textual", "visual"], "merged": ["merged"]}
    shutil.copytree(world_dir, run_dir / "data")
    rows = [r for fam in ("perception", "visual", "textual") for r in load_rows(world_dir / fam / "test")]
    fates: dict[str, dict[str, str]] = {}

    def evaluate(label: str, folder: Path, shift: int) -> None:
        fates[label] = {r["id"]: fate_for(r, i, shift) for i, r in enumerate(rows)}
        write_jsonl(folder / "items.jsonl", [make_response(r, fates[label][r["id"]]) for r in rows])

    evaluate("base", run_dir / "eval" / "base", 0)
    for v, (variant, stages) in enumerate(variants.items()):
        seed_dir = run_dir / variant / "seed0"
        prev = run_dir / "base"
        for k, stage in enumerate(stages):
            folder = seed_dir / stage
            folder.mkdir(parents=True)
            (folder / "manifest.json").write_text(
                json.dumps(
                    {
                        "status": "done",
                        "started_from": str(prev),
                        "plan": {"name": stage},
                        "compute": {
                            "prompts_seen": 8,
                            "completions_generated": 40,
                            "tokens_generated": 100,
                            "wall_s": 1.0,
                        },
                    }
                )
            )
            write_jsonl(folder / "trainer_log.jsonl", trainer_log(10, 40 + 10 * v))
            evaluate(f"{variant}/seed0/{stage}", seed_dir / "eval" / stage, 1 + v + k)
            prev = folder
    return fates
