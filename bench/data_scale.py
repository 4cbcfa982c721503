"""Stage data at paper scale: N rows of 1536x1024 JPEGs, from recipe load to the end of the first GRPO step.

    .venv/bin/python bench/data_scale.py --sizes 1000 4000 16000 [--work /tmp/data_scale]

Each N runs in a fresh process (peak RSS is per process): it loads a recipe whose one stage reads a JSONL of N
rows (a few rendered images reused under different names, as hard links), plans the stage, builds the dataset
and trains one GRPO step of the tiny model. Reported: seconds from recipe load to the end of that step, the
resident memory after the libraries and the model are loaded (`base`), and the peak above it (`data`). Results
go to BENCHMARKS.md ("Paper-scale data")."""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RECIPE = """
name: scale
output_dir: {work}/runs
threads: 2
model: {{source: {model}}}
stages:
  - name: visual
    capability: visual_reasoning
    data: {{paths: [{data}], instruction: null}}
    trainer: {{steps: 1, prompts_per_step: 2, group_size: 2, max_completion_length: 4, logging_steps: 1}}
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_data(work: Path, n: int) -> Path:
    """`n` rows over 4 distinct 1536x1024 JPEGs (about 0.5 MB each) linked under n names."""
    import numpy as np
    from PIL import Image

    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(4):
        p = src / f"{k}.jpg"
        if not p.exists():
            arr = np.clip(np.cumsum(rng.normal(0, 3, (1024, 1536, 3)), axis=1) + 128, 0, 255).astype("uint8")
            Image.fromarray(arr).save(p, quality=90)
    imgs = work / f"images{n}"
    imgs.mkdir(exist_ok=True)
    lines = []
    for i in range(n):
        name = imgs / f"{i:06d}.jpg"
        if not name.exists():
            os.link(src / f"{i % 4}.jpg", name)
        lines.append(
            json.dumps(
                {
                    "id": f"r{i}",
                    "problem": "<image>How many shapes are there?",
                    "answer": str(i % 5),
                    "images": [name.name],
                }
            )
        )
    data = imgs / "rows.jsonl"
    data.write_text("\n".join(lines) + "\n")
    return data


def child(work: Path, n: int) -> dict:
    import torch

    from stagewise.config import load_recipe
    from stagewise.models.load import load_for_training
    from stagewise.models.tiny import build_tiny_model, world_corpus
    from stagewise.train.plan import plan_variant

    torch.set_num_threads(2)
    model_dir = work / "model"
    if not (model_dir / "config.json").exists():
        build_tiny_model("tiny", world_corpus(200), model_dir, seed=0)
    data = make_data(work, n)
    recipe_path = work / f"scale{n}.yaml"
    recipe_path.write_text(RECIPE.format(work=work, model=model_dir, data=data))
    load_for_training(model_dir, "float32", None)  # the libraries and a model resident, as in a real stage
    base = rss_mb()

    t0 = time.time()
    recipe = load_recipe(recipe_path)
    (plan,) = plan_variant(recipe, "staged", work / "runs" / "scale" / "data")
    t_plan = time.time() - t0
    from stagewise.train.pipeline import train_stage

    out = work / "runs" / "scale" / f"stage{n}"
    shutil.rmtree(out, ignore_errors=True)  # a finished stage would be skipped
    train_stage(recipe, plan, model_dir, out, seed=0)
    seconds = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "seconds": round(seconds, 1),
        "plan_seconds": round(t_plan, 1),
        "base_rss_mb": round(base),
        "peak_rss_mb": round(peak),
        "data_rss_mb": round(peak - base),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/stagewise-data-scale"))
    ap.add_argument("--child", type=int, default=None)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.work, args.child)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        "| rows | seconds to the end of step 1 | of which planning | RSS base (MB) | peak (MB) | above base "
        "(MB) |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--work", str(args.work)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(out.returncode)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {n} | {r['seconds']} | {r['plan_seconds']} | {r['base_rss_mb']} | {r['peak_rss_mb']} | "
            f"{r['data_rss_mb']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
