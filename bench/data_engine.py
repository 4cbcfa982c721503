"""Speed and keep rate of the perception data engine on this machine (results in BENCHMARKS.md).

Measures items/s of the offline writer, items/s of the filter with the tiny model (random init and the
warm-started base) on 2 threads, and the world's keep rate with the tiny base as the filter model, both under
the paper's rule (greedy, 8 new tokens, `answer: X` else first standalone A-D) and with the boxed extraction
the base's `<think> ... \\boxed{}` format needs. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
from pathlib import Path

import torch

from stagewise.data.perception import sources
from stagewise.data.perception.filter import FilterConfig, FilterModel, read_items, run_filter
from stagewise.data.perception.writer import write_mcq
from stagewise.data.sft_rows import describe_rows
from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
from stagewise.models.load import load_model_and_processor
from stagewise.models.tiny import build_tiny_model, world_corpus
from stagewise.train.sft import run_sft
from stagewise.world.build import build_world

log = logging.getLogger("bench")


def warm_start(init: Path, world: Path, out: Path, steps: int) -> Path:
    """The demo's warm start (world traces + describe rows, batch 16, lr 1e-3), for `steps` steps."""
    rows = []
    for fam in ("perception", "visual", "textual"):
        raw = load_rows(world / fam / "train")
        rows += to_trl_rows(raw, with_completion=True, instruction=None, source=fam)
        if fam != "textual":
            rows += describe_rows(raw)
    random.Random(0).shuffle(rows)
    model, proc = load_model_and_processor(init, dtype=torch.float32)
    run_sft(model, proc, to_dataset(rows), out, steps=steps, batch_size=16, learning_rate=1e-3)
    return out


def filter_run(items, out, model, **kw) -> tuple[dict, float]:
    t0 = time.perf_counter()
    report = run_filter(items, out, FilterConfig(models=[model], batch_size=32, **kw))
    return report, len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--world-size", type=int, default=1000, help="train items per visual family")
    ap.add_argument("--filter-items", type=int, default=400)
    ap.add_argument("--base", default=None, help="a warm-started base folder (default: warm-start one here)")
    ap.add_argument("--base-steps", type=int, default=1000)
    ap.add_argument("--out", default=None, help="keep the work folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.out or tmp)
        world = build_world(
            tmp / "world", ["perception", "visual", "textual"], {"train": args.world_size, "test": 10}, seed=0
        )
        records = sources.world(world)
        t0 = time.perf_counter()
        report = write_mcq(records, tmp / "mcq")
        total = time.perf_counter() - t0
        results.append(
            (
                f"offline writer, {len(records)} world captions: writing only (items/s)",
                f"{report['run']['items_per_s']:.0f}",
            )
        )
        results.append(
            ("offline writer incl. reading + image checks (items/s)", f"{len(records) / total:.0f}")
        )
        items = read_items(tmp / "mcq")[: args.filter_items]

        init = build_tiny_model("tiny", world_corpus(500), tmp / "init")
        _, rate = filter_run(items, tmp / "f-init", FilterModel("init", path=str(init)))
        results.append(
            (f"filter, tiny random init, {len(items)} items, 2 passes x 8 tokens (items/s)", f"{rate:.1f}")
        )

        base = Path(args.base) if args.base else warm_start(init, world, tmp / "base", args.base_steps)
        label = "given base" if args.base else f"base warm-started {args.base_steps} steps"
        paper, rate = filter_run(items, tmp / "f-base", FilterModel("base", path=str(base)))
        results.append((f"filter, tiny {label}, paper rule (items/s)", f"{rate:.1f}"))
        boxed, rate = filter_run(
            items, tmp / "f-boxed", FilterModel("base", path=str(base)), max_new_tokens=96, extraction="boxed"
        )
        results.append(("filter, same base, 96 tokens + boxed extraction (items/s)", f"{rate:.1f}"))
        for name, rep in (("paper rule", paper), ("96 tokens + boxed", boxed)):
            m = rep["per_model"]["base"]
            kinds = ", ".join(f"{k} {100 * v['keep_rate']:.0f}" for k, v in rep["per_kind"].items())
            results.append(
                (
                    f"world keep rate, {name} (%)",
                    f"{100 * rep['keep_rate']:.1f} (image wrong "
                    f"{100 * m['image_wrong_rate']:.0f}, image empty {100 * m['image_empty_rate']:.0f}, "
                    f"caption right {100 * m['caption_right_rate']:.0f}; per kind: {kinds})",
                )
            )
        (tmp / "bench.json").write_text(json.dumps(results, indent=1))

    print(f"\n| measure (tiny, {args.threads} threads) | value |\n|---|---|")  # noqa: T201 (bench output)
    for name, value in results:
        print(f"| {name} | {value} |")  # noqa: T201


if __name__ == "__main__":
    main()
