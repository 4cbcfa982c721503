"""One GRPO stage of the tiny model in this process vs. two CPU processes (`accelerate launch`, gloo DDP).

    PYTHONPATH=src python bench/ddp_cpu.py --steps 20

Same global batch both ways (prompts x group completions per optimizer step). Prints a Markdown table of wall
time (launch and model loading included) and TRL's mean logged step time. On 2 cores the two processes share
the cores, so this measures the launcher's overhead and correctness, not a speed-up.
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

import stagewise
from stagewise.config import load_recipe
from stagewise.models.tiny import build_tiny_model, world_corpus
from stagewise.train.launch import LaunchOptions
from stagewise.train.pipeline import train_stage
from stagewise.train.plan import StagePlan, stage_rows
from stagewise.world.build import build_world

RECIPE = """
name: {name}
output_dir: {out}
threads: {threads}
stages:
  - name: perception
    data: {{families: [perception], size: 64, instruction: null}}
    trainer: {{steps: {steps}, learning_rate: 1.0e-4, prompts_per_step: 4, group_size: 4,
               max_completion_length: 32, logging_steps: 1}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(stagewise.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    )
    tmp = Path(tempfile.mkdtemp())
    world = build_world(tmp / "world", ["perception"], {"train": 64, "test": 4}, seed=0)
    model = build_tiny_model("tiny", world_corpus(200), tmp / "tiny", seed=0)
    rows = []
    # 1 process x 2 threads is left out: on a loaded 2-core machine its OpenMP threads spin-wait and it ran
    # 5-20x slower per step than either setup below (BENCHMARKS.md).
    setups = (("1 process x 1 thread", 1, 1), ("2 processes x 1 thread (DDP, gloo)", 2, 1))
    for label, procs, threads in setups:
        path = tmp / f"r{procs}{threads}.yaml"
        path.write_text(
            RECIPE.format(name=f"p{procs}t{threads}", out=tmp / "runs", threads=threads, steps=args.steps)
        )
        recipe = load_recipe(path)
        torch.set_num_threads(threads)  # in-process runs; launched ones apply recipe.threads themselves
        launch = LaunchOptions(launcher="accelerate", cpu=True, num_processes=2) if procs == 2 else None
        t0 = time.time()
        st = recipe.stages[0]
        plan = StagePlan(st.name, "perception", "grpo", stage_rows(st, world), st.trainer, False, [st.name])
        out = train_stage(recipe, plan, model, recipe.run_dir / st.name, 0, launch=launch)
        wall = time.time() - t0
        log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
        steps = [h["step_time"] for h in log if "step_time" in h]
        rows.append(f"| {label} | {args.steps} | {wall:.1f} | {sum(steps) / len(steps):.2f} |")
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f}\n")
    print("| setup | steps | wall s (incl. start-up) | mean step s |\n|---|---|---|---|\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
