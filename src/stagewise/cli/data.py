"""`stagewise world` and `stagewise data ...`: generating, pulling and grading data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stagewise.analysis.headroom import headroom, headroom_table, mentions
from stagewise.analysis.runs import read_jsonl
from stagewise.cli.common import show_table
from stagewise.data.paper import pull_paper
from stagewise.data.perception.commands import add_perception_commands
from stagewise.data.sources import load_rows, to_trl_rows
from stagewise.utils import atomic_write_json, atomic_write_jsonl, atomic_write_text
from stagewise.world.scene import Difficulty
from stagewise.world.tasks import FAMILIES, WorldConfig

log = logging.getLogger("stagewise")


def cmd_world(args) -> int:
    from stagewise.world.build import build_world

    diff = Difficulty(max_objects=args.max_objects, clutter=args.clutter, steps=args.steps)
    cfg = WorldConfig(image_size=args.image_size, difficulty=diff)
    out = build_world(
        args.out, args.families, {"train": args.train_size, "test": args.test_size}, seed=args.seed, cfg=cfg
    )
    log.info("world data written to %s", out)
    return 0


def cmd_data_difficulty(args) -> int:
    import datasets
    import torch

    from stagewise.data.difficulty import estimate_pass_rates
    from stagewise.models.load import load_for_inference

    if args.threads:
        torch.set_num_threads(args.threads)
    src, out = Path(args.data), Path(args.out)
    raw = load_rows(src, limit=args.limit)
    rows = to_trl_rows(raw, instruction=args.instruction or None, source=src.name)
    model, processor = load_for_inference(args.model)
    rates = estimate_pass_rates(
        model,
        processor,
        rows,
        args.cache or f"{out}.cache.jsonl",
        model_name=args.model,
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    keep = [
        i
        for i, t in enumerate(rows)
        if not ((args.drop_solved and rates[t["id"]] >= 1) or (args.drop_unsolved and rates[t["id"]] <= 0))
    ]
    if src.suffix == ".jsonl":
        # The input lines plus pass_rate; image paths made absolute when the output lives elsewhere.
        lines = [json.loads(ln) for ln in src.read_text().splitlines() if ln.strip()][: len(raw)]
        out_rows = [{**lines[i], "pass_rate": rates[rows[i]["id"]]} for i in keep]
        if out.parent.resolve() != src.parent.resolve():
            for line in out_rows:
                line["images"] = [str((src.parent / p).resolve()) for p in line.get("images", [])]
        atomic_write_jsonl(out, out_rows)
    else:
        ds = datasets.load_from_disk(str(src)).select(range(len(raw)))
        ds = ds.add_column("pass_rate", [rates[t["id"]] for t in rows]).select(keep)
        ds.save_to_disk(str(out))
    mean = sum(rates.values()) / max(1, len(rates))
    log.info("pass rates of %d items (mean %.3f), %d kept -> %s", len(rates), mean, len(keep), out)
    return 0


def cmd_data_headroom(args) -> int:
    """Greedy answers and k samples of one model on the same world items -> is there anything for RL to
    sharpen?"""
    import torch

    from stagewise.data.difficulty import estimate_pass_rates
    from stagewise.eval.world_eval import evaluate
    from stagewise.models.load import load_for_inference
    from stagewise.train.summary import markdown_table

    if args.threads:
        torch.set_num_threads(args.threads)
    data, out = Path(args.data), Path(args.out)
    tests, tags = {}, {}
    words = [w.strip() for w in (args.mentions or "").split(",") if w.strip()]
    for fam in args.families.split(","):
        folder = data / fam / args.split
        if not folder.exists():
            raise FileNotFoundError(
                f"{folder}: no {fam}/{args.split} split in {data} (a world or run data folder)"
            )
        raw = load_rows(folder, limit=args.size)
        tags |= mentions(raw, words)
        tests[fam] = to_trl_rows(raw, instruction=args.instruction or None, source=fam)
    model, processor = load_for_inference(args.model)
    evaluate(
        model,
        processor,
        tests,
        out / "greedy",
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    rows = [r for t in tests.values() for r in t]
    rates = estimate_pass_rates(
        model,
        processor,
        rows,
        out / "pass_rates.jsonl",
        model_name=args.model,
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    result = headroom(read_jsonl(out / "greedy" / "items.jsonl"), rates, tags)
    header, table = headroom_table(result, args.k)
    atomic_write_json(
        out / "headroom.json",
        {"model": args.model, "k": args.k, "temperature": args.temperature, "groups": result},
    )
    atomic_write_text(out / "headroom.md", markdown_table(header, table))
    show_table(f"{args.model}: greedy vs {args.k} samples on the same items (%)", header, table)
    log.info("headroom: %s", out / "headroom.md")
    return 0


def cmd_data_pull(args) -> int:
    report = pull_paper(args.out, revision=args.revision, stages=args.stage)
    show_table(
        f"paper data -> {args.out}",
        ["stage", "hub dataset", "rows", "images"],
        [[s, r["repo"], str(r["rows"]), str(r["images"])] for s, r in report.items()],
    )
    return 0


def add_data_commands(sub) -> None:
    """`stagewise data ...`: difficulty estimation; the perception data engine (write-mcq, filter, export)."""
    d = sub.add_parser(
        "data", help="data steps: difficulty estimation, perception write-mcq / filter / export"
    )
    dsub = d.add_subparsers(dest="data_command", required=True)
    add_perception_commands(dsub)
    df = dsub.add_parser(
        "difficulty", help="pass rate over k samples of a model -> a pass_rate column (cached)"
    )
    df.add_argument("data", help="an HF dataset folder or a JSONL file in the paper's schema")
    df.add_argument("--model", required=True, help="model folder or hub id")
    df.add_argument("--out", required=True, help="output: JSONL for JSONL input, else a dataset folder")
    df.add_argument("--cache", default=None, help="per-item cache (default: OUT.cache.jsonl)")
    df.add_argument("--k", type=int, default=16)
    df.add_argument("--temperature", type=float, default=0.7)
    df.add_argument("--top-p", type=float, default=0.9)
    df.add_argument("--max-new-tokens", type=int, default=128)
    df.add_argument("--batch-size", type=int, default=64)
    df.add_argument("--limit", type=int, default=None)
    df.add_argument("--instruction", default="think_boxed", help="prompt template; '' for none")
    df.add_argument("--drop-solved", action="store_true", help="drop items with pass rate 1")
    df.add_argument("--drop-unsolved", action="store_true", help="drop items with pass rate 0")
    df.add_argument("--seed", type=int, default=0)
    df.add_argument("--threads", type=int, default=0)
    df.set_defaults(func=cmd_data_difficulty)
    dp = dsub.add_parser(
        "pull",
        help="fetch a released dataset and lay it out for the recipes: `paper` (the "
        "paper's three stage datasets -> OUT/{perception,textual,visual}.jsonl)",
    )
    dp.add_argument("name", choices=["paper"])
    dp.add_argument("--out", type=Path, default=Path("data/paper"))
    dp.add_argument("--revision", default=None, help="hub revision of every dataset (default: main)")
    dp.add_argument("--stage", action="append", default=None, help="only this stage's data (repeatable)")
    dp.set_defaults(func=cmd_data_pull)
    hr = dsub.add_parser(
        "headroom",
        help="greedy vs k sampled answers of a model on the same world items: is "
        "there anything for RL to sharpen?",
    )
    hr.add_argument("--model", required=True, help="model folder or hub id")
    hr.add_argument(
        "--data", required=True, help="world data folder (`stagewise world` output or runs/<name>/data)"
    )
    hr.add_argument(
        "--out", required=True, help="output folder (greedy/, pass_rates.jsonl, headroom.md|json)"
    )
    hr.add_argument("--families", default="perception,visual,textual", help="comma-separated world families")
    hr.add_argument("--split", default="test")
    hr.add_argument("--size", type=int, default=500, help="items per family")
    hr.add_argument("--k", type=int, default=8, help="samples per item")
    hr.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature (GRPO's rollouts: 1.0)"
    )
    hr.add_argument("--top-p", type=float, default=1.0)
    hr.add_argument("--max-new-tokens", type=int, default=96)
    hr.add_argument("--batch-size", type=int, default=64)
    hr.add_argument("--instruction", default="", help="prompt template ('' for none, as the demo's stages)")
    hr.add_argument(
        "--mentions",
        default="",
        help="comma-separated words (e.g. red,triangle): also a row per kind "
        "for the items whose reference reasoning names each word",
    )
    hr.add_argument("--seed", type=int, default=0)
    hr.add_argument("--threads", type=int, default=0)
    hr.set_defaults(func=cmd_data_headroom)


def add_world_command(sub) -> None:
    w = sub.add_parser("world", help="generate procedural world data (HF datasets + JSONL + images)")
    w.add_argument("--out", required=True)
    w.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    w.add_argument("--train-size", type=int, default=2000)
    w.add_argument("--test-size", type=int, default=200)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--image-size", type=int, default=112)
    w.add_argument("--max-objects", type=int, default=5)
    w.add_argument("--clutter", type=int, default=0)
    w.add_argument("--steps", type=int, default=2)
    w.set_defaults(func=cmd_world)
