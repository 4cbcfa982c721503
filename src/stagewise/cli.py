"""The `stagewise` command: one subcommand per step of the method, each usable on its own."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("stagewise")


def setup_logging(verbose: bool = False) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    # Logs and errors go to stderr (rich's default is stdout), so stdout carries only tables and results.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="[%X]", handlers=[RichHandler(console=Console(stderr=True), show_path=False,
                                                              rich_tracebacks=False)])
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers.modeling_utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _quiet_libraries() -> None:
    import transformers

    # Library log chatter off, progress bars kept: downloads and dataset writes can take an hour and must not run
    # silently. Blocks that draw stagewise's own bar turn them off there (stagewise.utils.library_bars_off).
    transformers.utils.logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _VersionAction(argparse.Action):
    """`stagewise --version`: the package and the versions a bug report needs, read without importing them."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_line() + "\n")
        parser.exit()


def version_line() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import stagewise

    found = []
    for pkg in ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "huggingface_hub", "vllm"):
        try:
            found.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:  # optional extras (vllm) are simply not listed
            pass
    return f"stagewise {stagewise.__version__} ({', '.join(found)}; python {platform.python_version()})"


def show_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, h in enumerate(header):  # the first column names the row: left-aligned, never wrapped
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        table.add_row(*r)
    Console(width=max(Console().width, 110)).print(table)


# ------------------------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    """`run`: every variant of the recipe (or those named by --variant) with its `seed`; `grid`: x `seeds`."""
    from stagewise.config import load_recipe, select_variants
    from stagewise.train.launch import LaunchOptions
    from stagewise.train.pipeline import results_table, run
    from stagewise.train.summary import grid_table

    recipe = select_variants(load_recipe(args.recipe, args.overrides), args.variant)
    seeds = (recipe.seeds or [recipe.seed]) if args.command == "grid" else [recipe.seed]
    launch = LaunchOptions(launcher=args.launcher, accelerate_config=args.accelerate_config,
                           num_processes=args.num_processes, num_machines=args.num_machines,
                           machine_rank=args.machine_rank, main_process_ip=args.main_process_ip,
                           main_process_port=args.main_process_port, cpu=args.cpu)
    if launch.machine_rank > 0:
        from stagewise.train.launch import wait_for_machine_0

        wait_for_machine_0(recipe)
    out = run(recipe, seeds, launch=launch, redo=args.redo, fresh=args.fresh, wait=args.wait, command=args.command)
    if out["grid"] is None:  # a machine other than 0: it trained, machine 0 evaluates
        return 0
    if args.command == "run":
        header, rows = results_table(out["models"], recipe.eval.families)
        show_table(f"{recipe.name}: held-out world test accuracy (%) and mean trace length (tokens)", header, rows)
        if out.get("paired"):
            from stagewise.analysis.paired import collapse_free_table, paired_table

            header, rows = paired_table(out.get("paired"), recipe.eval.families)
            show_table(f"{recipe.name}: each model minus the base on the same items (points ± 95% interval; "
                       "* excludes 0)", header, rows)
            header, rows = collapse_free_table(out.get("paired"), recipe.eval.families)
            show_table(f"{recipe.name}: the same without the question kinds either model answers with one answer "
                       "(90%+ of items)", header, rows)
    header, rows = grid_table(out["grid"])
    show_table(f"{recipe.name}: variants side by side (final models; accuracy %, trace tokens)", header, rows)
    log.info("results: %s and %s", recipe.run_dir / "results.md", recipe.run_dir / "grid.md")
    return 0


def cmd_data_difficulty(args) -> int:
    import datasets
    import torch

    from stagewise.data.difficulty import estimate_pass_rates
    from stagewise.data.sources import load_rows, to_trl_rows
    from stagewise.models.load import load_for_inference
    from stagewise.utils import atomic_write_jsonl

    if args.threads:
        torch.set_num_threads(args.threads)
    src, out = Path(args.data), Path(args.out)
    raw = load_rows(src, limit=args.limit)
    rows = to_trl_rows(raw, instruction=args.instruction or None, source=src.name)
    model, processor = load_for_inference(args.model)
    rates = estimate_pass_rates(model, processor, rows, args.cache or f"{out}.cache.jsonl", model_name=args.model,
                                k=args.k, temperature=args.temperature, top_p=args.top_p,
                                max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, seed=args.seed)
    keep = [i for i, t in enumerate(rows) if not ((args.drop_solved and rates[t["id"]] >= 1)
                                                  or (args.drop_unsolved and rates[t["id"]] <= 0))]
    if src.suffix == ".jsonl":
        # The input lines plus pass_rate; image paths made absolute when the output lives elsewhere.
        lines = [json.loads(ln) for ln in src.read_text().splitlines() if ln.strip()][:len(raw)]
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
    """Greedy answers and k samples of one model on the same world items -> is there anything for RL to sharpen?"""
    import torch

    from stagewise.analysis.headroom import headroom, headroom_table, mentions
    from stagewise.analysis.runs import read_jsonl
    from stagewise.data.difficulty import estimate_pass_rates
    from stagewise.data.sources import load_rows, to_trl_rows
    from stagewise.eval.world_eval import evaluate
    from stagewise.models.load import load_for_inference
    from stagewise.train.pipeline import markdown_table
    from stagewise.utils import atomic_write_json, atomic_write_text

    if args.threads:
        torch.set_num_threads(args.threads)
    data, out = Path(args.data), Path(args.out)
    tests, tags = {}, {}
    words = [w.strip() for w in (args.mentions or "").split(",") if w.strip()]
    for fam in args.families.split(","):
        folder = data / fam / args.split
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no {fam}/{args.split} split in {data} (a world or run data folder)")
        raw = load_rows(folder, limit=args.size)
        tags |= mentions(raw, words)
        tests[fam] = to_trl_rows(raw, instruction=args.instruction or None, source=fam)
    model, processor = load_for_inference(args.model)
    evaluate(model, processor, tests, out / "greedy", batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    rows = [r for t in tests.values() for r in t]
    rates = estimate_pass_rates(model, processor, rows, out / "pass_rates.jsonl", model_name=args.model, k=args.k,
                                temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                                batch_size=args.batch_size, seed=args.seed)
    result = headroom(read_jsonl(out / "greedy" / "items.jsonl"), rates, tags)
    header, table = headroom_table(result, args.k)
    atomic_write_json(out / "headroom.json", {"model": args.model, "k": args.k, "temperature": args.temperature,
                                              "groups": result})
    atomic_write_text(out / "headroom.md", markdown_table(header, table))
    show_table(f"{args.model}: greedy vs {args.k} samples on the same items (%)", header, table)
    log.info("headroom: %s", out / "headroom.md")
    return 0


def cmd_check(args) -> int:
    import yaml

    from stagewise.config import load_recipe, to_dict

    recipe = load_recipe(args.recipe, args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(recipe), sort_keys=False))
    return 0


def cmd_world(args) -> int:
    from stagewise.world.build import build_world
    from stagewise.world.scene import Difficulty
    from stagewise.world.tasks import WorldConfig

    diff = Difficulty(max_objects=args.max_objects, clutter=args.clutter, steps=args.steps)
    cfg = WorldConfig(image_size=args.image_size, difficulty=diff)
    out = build_world(args.out, args.families, {"train": args.train_size, "test": args.test_size},
                      seed=args.seed, cfg=cfg)
    log.info("world data written to %s", out)
    return 0


def cmd_model(args) -> int:
    if args.pretrain_steps:
        from stagewise.models.pretrain import pretrain

        pretrain(args.out, preset=args.preset, steps=args.pretrain_steps, size=args.pretrain_size,
                 world_seed=args.world_seed, seed=args.seed, threads=args.threads, corpus_size=args.corpus_size,
                 caption_qa=args.pretrain_caption_qa)
        return 0
    from stagewise.models.tiny import build_tiny_model, world_corpus

    build_tiny_model(args.preset, world_corpus(args.corpus_size), args.out, seed=args.seed)
    return 0


def _eval_settings(args, bench: str | None = None):
    from stagewise.eval.harness import EvalSettings

    bench = bench or args.bench
    instruction = args.instruction
    if instruction is None:  # world traces follow the paper's instruction; benchmarks use their own prompt
        instruction = "think_boxed" if bench == "world" else ""
    world = bench == "world"  # the tiny model's short traces; real benchmarks need long ones
    return EvalSettings(mode=args.mode, extract=args.extract, instruction=instruction or None,
                        system_prompt=args.system_prompt or None,
                        max_new_tokens=args.max_new_tokens or (128 if world else 1024),
                        batch_size=args.batch_size or (64 if world else 16))


def _judge(args):
    if not args.judge_url:
        return None
    from stagewise.eval.judge import Judge

    if not args.judge_model:
        raise ValueError("--judge-url needs --judge-model")
    key = os.environ.get(args.judge_api_key_env or "") or None
    return Judge(args.judge_url, args.judge_model, api_key=key)


def _show_metrics(name: str, metrics: dict, label: str) -> None:
    if name == "world":
        from stagewise.train.pipeline import results_table

        header, rows = results_table({label: metrics}, list(metrics["families"]))
        show_table("held-out world test accuracy (%)", header, rows)
        return
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict) and "accuracy" in value and "total" in value:
            rows.append([key, f"{value['accuracy']:.2f}", str(value["total"])])
        elif isinstance(value, float):
            rows.append([key, f"{value:.2f}", ""])
    show_table(f"{name}: {label}", ["metric", "score (%)", "n"], rows)


def cmd_data_pull(args) -> int:
    from stagewise.data.paper import pull_paper

    report = pull_paper(args.out, revision=args.revision, stages=args.stage)
    show_table(f"paper data -> {args.out}", ["stage", "hub dataset", "rows", "images"],
               [[s, r["repo"], str(r["rows"]), str(r["images"])] for s, r in report.items()])
    return 0


def _user_errors(fn):
    """Bad names, modes and prediction files end with a one-line error (exit 2), not a traceback."""

    def wrapped(args) -> int:
        try:
            return fn(args)
        except (ValueError, ImportError) as e:
            log.error("%s", e)
            return 2

    return wrapped


def _eval_lock(args):
    """An eval writes into its --out folder, or into the run folder that holds it: one writer at a time."""
    from stagewise.lock import folder_lock, run_folder_of

    return folder_lock(run_folder_of(args.out), f"eval {args.eval_command}", wait=args.wait)


@_user_errors
def cmd_eval_run(args) -> int:
    with _eval_lock(args):
        return _eval_run(args)


def _eval_run(args) -> int:
    from stagewise.eval import harness
    from stagewise.eval.backends import make_backend
    from stagewise.eval.benchmarks import load_benchmark

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    entries = _bench_entries(args)
    backend = make_backend(args.backend, args.model, batch_size=_eval_settings(args, entries[0].name).batch_size,
                           base_url=args.base_url, api_key=os.environ.get(args.api_key_env or "") or None,
                           tokenizer=args.tokenizer, concurrency=args.concurrency, max_retries=args.max_retries)
    judge = _judge(args)
    scores = {}
    for entry in entries:
        # one benchmark writes into --out as before; several (a suite) each into --out/<label>/
        out = Path(args.out) if len(entries) == 1 else Path(args.out) / entry.label
        settings = _eval_settings(args, entry.name)
        if len(entries) > 1 and (out / "metrics.json").exists():
            metrics = json.loads((out / "metrics.json").read_text())
        else:
            rows = load_benchmark(entry.name, args.data, limit=args.limit, images=args.images,
                                  subset=args.subset or entry.subset)
            metrics = harness.run(entry.name, rows, backend, out, settings, judge=judge)
        _show_metrics(entry.name, metrics, f"{Path(args.model).name} ({entry.label})")
        log.info("per-item results: %s; metrics: %s", out / "items.jsonl", out / "metrics.json")
        scores[entry.label] = suite_headline(entry.name, metrics)
    if len(entries) > 1:
        _write_suite_table(Path(args.out), {Path(args.model).name: scores})
    return 0


def _bench_entries(args) -> list:
    """--bench: one benchmark (`world` too), or a comma-separated mix of benchmarks, suites and aliases."""
    from stagewise.eval.suites import Entry, resolve

    if args.bench == "world":
        return [Entry("world", "world")]
    entries = resolve(args.bench)
    if len(entries) > 1 and args.data:
        raise ValueError("--data names one benchmark's annotations: give one benchmark with it, not a suite")
    return entries


def _write_suite_table(out: Path, models: dict[str, dict]) -> None:
    from stagewise.eval.suites import suite_scores, suite_table
    from stagewise.utils import atomic_write_json

    header, rows = suite_table(models)
    show_table("suite (paper layout, %)", header, rows)
    atomic_write_json(out / "suite.json", {m: {"benchmarks": s, "averages": suite_scores(s)}
                                           for m, s in models.items()})
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    (out / "suite.md").write_text("\n".join(lines) + "\n")
    log.info("suite table: %s", out / "suite.md")


def suite_headline(name: str, metrics: dict) -> float | None:
    from stagewise.eval.suites import headline

    return headline(name, metrics)


def cmd_plan(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.memory import plan

    recipe = load_recipe(args.recipe, args.overrides)
    result = plan(recipe, args.gpus, prompt_tokens=args.prompt_tokens, gpu_memory_gib=args.gpu_memory)
    log.info("%s: %.3f B parameters (vision %.3f B)", result["model"], result["parameters"] / 1e9,
             result["vision"] / 1e9)
    parts = ["weights", "gradients", "optimizer", "reference", "activations", "vllm", "total"]
    for name, rows in result["stages"].items():
        r0 = rows[0]
        prompt = result["prompt_tokens"][name]
        title = (f"stage {name}: GiB per GPU on {r0['train_gpus']} training GPU(s), {r0['trainable'] / 1e9:.3f} B "
                 f"trained, micro-batch {r0['micro_batch']} x {r0['seq_len']} tokens (prompt {prompt['tokens']}: "
                 f"{prompt['from']}; weights trained from {recipe.model.train_dtype})")
        table = [[r["strategy"]] + [f"{r[k]:.2f}" for k in parts] + ["yes" if r["fits"] else "NO"] for r in rows]
        show_table(title, ["strategy"] + parts + [f"fits {args.gpu_memory:g} GiB"], table)
    return 0


def cmd_export_easyr1(args) -> int:
    from stagewise.config import load_recipe
    from stagewise.export.easyr1 import export_easyr1

    recipe = load_recipe(args.recipe, args.overrides)
    out = export_easyr1(recipe, args.out, gpus_per_node=args.gpus_per_node, nnodes=args.nnodes)
    log.info("EasyR1 project written to %s; run: EASYR1_DIR=/path/to/EasyR1 bash %s", out, Path(out) / "train.sh")
    return 0


def cmd_diagnose(args) -> int:
    """A run directory: its final models (or every checkpoint); an items JSONL: that one eval output."""
    import torch

    from stagewise.analysis.diagnose import diagnose, diagnose_run, load_data
    from stagewise.analysis.judge import JudgeConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    judge = None
    if args.judge_url:
        if not args.judge_model:
            raise ValueError("--judge-url needs --judge-model")
        judge = JudgeConfig(url=args.judge_url, model=args.judge_model, template=args.judge_template)
    target = Path(args.target)
    common = dict(judge=judge, probe_mode=args.probe_mode, caption=args.caption, limit=args.limit,
                  batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    if target.is_dir():
        summaries = diagnose_run(target, probe=args.probe, which="all" if args.all_checkpoints else "final",
                                 **common)
    else:
        if not args.data:
            raise ValueError(f"{target}: diagnosing an items file needs --data (the data it was asked from)")
        from stagewise.models.load import load_for_inference

        model = processor = captioner = None
        if args.model:
            model, processor = load_for_inference(args.model)
        if args.captioner:
            captioner = load_for_inference(args.captioner)
        out = Path(args.out) if args.out else target.parent / "diagnosis"
        summaries = {target.parent.name: diagnose(target, load_data(args.data), out, model=model,
                                                  processor=processor, captioner=captioner,
                                                  instruction=args.instruction or None, **common)}
    rows = []
    for label, s in summaries.items():
        for m in s["methods"]:
            o, a = s["overall"][m], s["vs_oracle"].get(m) or {}
            share = o["perception_share"]
            rows.append([label, m, str(s["wrong"]), str(o["n"]), "" if share is None else f"{100 * share:.1f}",
                         "" if a.get("precision") is None else f"{a['precision']:.2f}",
                         "" if a.get("recall") is None else f"{a['recall']:.2f}"])
    show_table("wrong answers: perception-error share (%) and agreement with the scene-graph oracle",
               ["model", "method", "wrong", "diagnosed", "perception %", "precision", "recall"], rows)
    return 0


def cmd_report(args) -> int:
    from stagewise.report import write_report

    path = write_report(args.run_dir, args.out)
    sys.stdout.write(f"{path}\n")
    return 0


def _add_analysis_commands(sub) -> None:
    dg = sub.add_parser("diagnose", help="attribute wrong answers to perception or reasoning (oracle, caption "
                                         "probe, LLM judge)")
    dg.add_argument("target", help="a run directory, or one eval output items.jsonl")
    dg.add_argument("--data", help="for an items file: world folder, HF dataset folder or JSONL it was asked from")
    dg.add_argument("--out", help="for an items file: output folder (default: beside it, diagnosis/)")
    dg.add_argument("--model", help="for an items file: the model to re-ask in the caption probe")
    dg.add_argument("--probe", action="store_true", help="for a run directory: run the caption probe")
    dg.add_argument("--probe-mode", default="replace", choices=["replace", "beside"],
                    help="the caption in place of the image, or beside it")
    dg.add_argument("--caption", default="caption", choices=["caption", "statement"],
                    help="the data's dense caption, or the scene stated as in the textual stage (world only)")
    dg.add_argument("--captioner", help="a model that writes captions for items whose data has none")
    dg.add_argument("--judge-url", help="OpenAI-compatible API base, e.g. http://localhost:8000/v1")
    dg.add_argument("--judge-model", help="model name sent to the judge endpoint")
    dg.add_argument("--judge-template", default="judge_attribution", help="prompt template name or file")
    dg.add_argument("--all-checkpoints", action="store_true", help="every evaluated stage, not only the last")
    dg.add_argument("--instruction", default="think_boxed", help="for an items file: prompt template; '' for none")
    dg.add_argument("--limit", type=int, default=None, help="at most this many wrong items per model")
    dg.add_argument("--batch-size", type=int, default=32)
    dg.add_argument("--max-new-tokens", type=int, default=128)
    dg.add_argument("--threads", type=int, default=0)
    dg.set_defaults(func=cmd_diagnose)

    rp = sub.add_parser("report", help="HTML + Markdown report of a run or grid directory")
    rp.add_argument("run_dir")
    rp.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")
    rp.set_defaults(func=cmd_report)


def _add_data_commands(sub) -> None:
    """`stagewise data ...`: difficulty estimation; the perception data engine (write-mcq, filter, export)."""
    from stagewise.data.perception.commands import add_perception_commands

    d = sub.add_parser("data", help="data steps: difficulty estimation, perception write-mcq / filter / export")
    dsub = d.add_subparsers(dest="data_command", required=True)
    add_perception_commands(dsub)
    df = dsub.add_parser("difficulty", help="pass rate over k samples of a model -> a pass_rate column (cached)")
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
    dp = dsub.add_parser("pull", help="fetch a released dataset and lay it out for the recipes: `paper` (the "
                         "paper's three stage datasets -> OUT/{perception,textual,visual}.jsonl)")
    dp.add_argument("name", choices=["paper"])
    dp.add_argument("--out", type=Path, default=Path("data/paper"))
    dp.add_argument("--revision", default=None, help="hub revision of every dataset (default: main)")
    dp.add_argument("--stage", action="append", default=None, help="only this stage's data (repeatable)")
    dp.set_defaults(func=cmd_data_pull)
    hr = dsub.add_parser("headroom", help="greedy vs k sampled answers of a model on the same world items: is "
                                          "there anything for RL to sharpen?")
    hr.add_argument("--model", required=True, help="model folder or hub id")
    hr.add_argument("--data", required=True, help="world data folder (`stagewise world` output or runs/<name>/data)")
    hr.add_argument("--out", required=True, help="output folder (greedy/, pass_rates.jsonl, headroom.md|json)")
    hr.add_argument("--families", default="perception,visual,textual", help="comma-separated world families")
    hr.add_argument("--split", default="test")
    hr.add_argument("--size", type=int, default=500, help="items per family")
    hr.add_argument("--k", type=int, default=8, help="samples per item")
    hr.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (GRPO's rollouts: 1.0)")
    hr.add_argument("--top-p", type=float, default=1.0)
    hr.add_argument("--max-new-tokens", type=int, default=96)
    hr.add_argument("--batch-size", type=int, default=64)
    hr.add_argument("--instruction", default="", help="prompt template ('' for none, as the demo's stages)")
    hr.add_argument("--mentions", default="", help="comma-separated words (e.g. red,triangle): also a row per kind "
                                                     "for the items whose reference reasoning names each word")
    hr.add_argument("--seed", type=int, default=0)
    hr.add_argument("--threads", type=int, default=0)
    hr.set_defaults(func=cmd_data_headroom)


@_user_errors
def cmd_eval_list(args) -> int:
    from stagewise.eval.benchmarks import BENCHMARKS
    from stagewise.eval.suites import ALIASES, SUITES

    rows = [[n, "benchmark", (getattr(m, "HUB_ID", "") or "")] for n, m in BENCHMARKS.items()]
    rows += [[n, "suite", ", ".join(e.label for e in entries)] for n, entries in SUITES.items()]
    rows += [[n, "alias", e.name + (f" --subset {e.subset!r}" if e.subset else "")] for n, e in ALIASES.items()]
    show_table("stagewise eval run MODEL --bench NAME[,NAME...]", ["name", "kind", "what"], rows)
    return 0


@_user_errors
def cmd_eval_score(args) -> int:
    with _eval_lock(args):
        return _eval_score(args)


def _eval_score(args) -> int:
    from stagewise.eval import harness
    from stagewise.eval.benchmarks import load_benchmark

    entries = _bench_entries(args)
    if len(entries) != 1:
        raise ValueError("eval score takes one benchmark (a prediction file answers one benchmark)")
    args.bench, args.subset = entries[0].name, args.subset or entries[0].subset
    rows = load_benchmark(args.bench, args.data, limit=args.limit, images=args.images, subset=args.subset)
    metrics = harness.score(args.bench, rows, args.predictions, args.out, _eval_settings(args),
                            field=args.field, id_field=args.id_field, judge=_judge(args),
                            allow_extra=args.limit is not None)
    _show_metrics(args.bench, metrics, Path(args.predictions).name)
    log.info("metrics: %s", Path(args.out) / "metrics.json")
    return 0


def _eval_common(p: argparse.ArgumentParser) -> None:
    from stagewise.eval.benchmarks import BENCHMARKS

    p.add_argument("--bench", required=True, help="benchmark, or (eval run) a comma-separated list of benchmarks, "
                   f"suites (paper-main, paper-extended) and other harnesses' names; benchmarks: {', '.join(BENCHMARKS)}"
                   " (`stagewise eval list` shows every name)")
    p.add_argument("--data", default=None, help="annotations: hub id, folder, JSON/JSONL/parquet/TSV file "
                   "(default: the benchmark's hub id; for world: the world data folder)")
    p.add_argument("--images", default=None, help="folder the annotation's image paths are relative to")
    p.add_argument("--subset", default=None, help="benchmark subset (world families, MathVerse versions, "
                   "POPE category), comma-separated")
    p.add_argument("--out", required=True, help="output folder (items.jsonl, metrics.json)")
    p.add_argument("--limit", type=int, default=None, help="first N items only (world: per family)")
    p.add_argument("--mode", default="official", help="scoring mode (official, or a named harness mode)")
    p.add_argument("--extract", default=None, choices=["chain", "raw"],
                   help="pre-extraction before the benchmark's rule (default: the benchmark's)")
    p.add_argument("--instruction", default=None, help="prompt template appended to each question "
                   "(think_boxed for trained models; '' for none; default: think_boxed for world, else none)")
    p.add_argument("--system-prompt", default=None, help="system turn: template name or text (default none)")
    p.add_argument("--batch-size", type=int, default=None, help="default: 64 for world, else 16")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: 128 for world, else 1024")
    p.add_argument("--judge-url", default=None, help="OpenAI-compatible endpoint of an LLM judge")
    p.add_argument("--judge-model", default=None)
    p.add_argument("--judge-api-key-env", default=None, help="environment variable holding the judge's key")
    p.add_argument("--wait", action="store_true", help="if another process writes into the output's run folder, "
                   "wait for it (default: refuse at once)")


def _add_rerun_args(r) -> None:
    r.add_argument("--variant", action="append", metavar="NAME", default=None,
                   help="train only this arm of the recipe's variants (repeatable); the others are left as they are")
    r.add_argument("--redo", nargs="+", metavar="STEP", default=None,
                   help="redo these steps and everything made from them (a stage name such as perception, or "
                   "data, init, base, perception_set, difficulty, eval; or a folder such as staged/seed0/visual); "
                   "the old folders move to RUN/superseded/")
    r.add_argument("--fresh", action="store_true", help="start the run over (the old contents move to "
                   "RUN/superseded/)")
    r.add_argument("--wait", action="store_true", help="if another process writes into the run folder, wait for "
                   "it (default: refuse at once)")


def _add_launch_args(r) -> None:
    r.add_argument("--launcher", choices=["local", "accelerate"], default="local",
                   help="train each stage in this process (local) or through `accelerate launch`")
    r.add_argument("--accelerate-config", help="accelerate config file, e.g. recipes/accelerate/zero3.yaml")
    r.add_argument("--num-processes", type=int, help="training processes over all machines")
    r.add_argument("--num-machines", type=int, default=1)
    r.add_argument("--machine-rank", type=int, default=0)
    r.add_argument("--main-process-ip", help="address of machine 0 (multi-node)")
    r.add_argument("--main-process-port", type=int, help="rendezvous port on machine 0 (multi-node)")
    r.add_argument("--cpu", action="store_true", help="launch CPU processes (gloo), e.g. to try DDP on a laptop")


def build_parser() -> argparse.ArgumentParser:
    from stagewise.world.tasks import FAMILIES

    p = argparse.ArgumentParser(prog="stagewise", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--version", action=_VersionAction, help="print the versions of stagewise and its stack")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train a recipe's stages in order and evaluate them")
    r.add_argument("recipe")
    r.add_argument("overrides", nargs="*", help="dotted overrides, e.g. stages.perception.trainer.steps=10")
    _add_launch_args(r)
    _add_rerun_args(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="load a recipe (with overrides) and print it resolved")
    c.add_argument("recipe")
    c.add_argument("overrides", nargs="*")
    c.set_defaults(func=cmd_check)

    pl = sub.add_parser("plan", help="per-GPU memory of each stage under DDP, ZeRO-1/2/3 and FSDP")
    pl.add_argument("recipe")
    pl.add_argument("overrides", nargs="*")
    pl.add_argument("--gpus", type=int, required=True, help="GPUs over all machines")
    pl.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU (H100: 80, H200: 141)")
    pl.add_argument("--prompt-tokens", type=int, default=None, help="prompt length (text + image tokens); "
                    "default: each stage's data.max_prompt_tokens, else measured on its data with the processor")
    pl.set_defaults(func=cmd_plan)

    ex = sub.add_parser("export", help="export a recipe for another training stack")
    ex_sub = ex.add_subparsers(dest="target", required=True)
    er = ex_sub.add_parser("easyr1", help="per-stage EasyR1 data, configs, reward function and launch script")
    er.add_argument("recipe")
    er.add_argument("overrides", nargs="*")
    er.add_argument("--out", required=True)
    er.add_argument("--gpus-per-node", type=int, default=8)
    er.add_argument("--nnodes", type=int, default=1)
    er.set_defaults(func=cmd_export_easyr1)

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

    m = sub.add_parser("model", help="build a tiny Qwen2-VL model from a preset (random init, local tokenizer), "
                                    "and optionally pretrain it")
    m.add_argument("--preset", default="tiny")
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--corpus-size", type=int, default=1500)
    m.add_argument("--pretrain-steps", type=int, default=0,
                   help="then pretrain it by SFT on a world of its own for this many steps (0: random init only)")
    m.add_argument("--pretrain-size", type=int, default=20000, help="fresh world items per family to pretrain on")
    m.add_argument("--pretrain-caption-qa", type=int, default=3000,
                   help="images per family whose perception question is also answered from the caption")
    m.add_argument("--world-seed", type=int, default=1, help="seed of the pretraining world (the demo's is 0)")
    m.add_argument("--threads", type=int, default=2)
    m.set_defaults(func=cmd_model)

    g = sub.add_parser("grid", help="run every variant x seed of a recipe and summarise (mean +- std, vs merged)")
    g.add_argument("recipe")
    g.add_argument("overrides", nargs="*")
    _add_launch_args(g)
    _add_rerun_args(g)
    g.set_defaults(func=cmd_run)

    _add_data_commands(sub)
    _add_analysis_commands(sub)
    from stagewise.rewards.score_file import add_reward_commands

    add_reward_commands(sub)
    from stagewise.export.hub import add_publish_commands

    add_publish_commands(sub)

    e = sub.add_parser("eval", help="evaluate a model on a benchmark, or score existing predictions")
    esub = e.add_subparsers(dest="eval_command", required=True)
    er = esub.add_parser("run", help="generate with a model (folder, hub id or served name) and score")
    er.add_argument("model")
    _eval_common(er)
    er.add_argument("--backend", default="transformers", choices=["auto", "transformers", "vllm", "openai"],
                    help="auto: vLLM when installed and on a GPU, else transformers (GPU and bf16 when there is one)")
    er.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (backend openai)")
    er.add_argument("--api-key-env", default=None, help="environment variable holding the endpoint's key")
    er.add_argument("--tokenizer", default=None, help="tokenizer for think-token counts (backend openai)")
    er.add_argument("--threads", type=int, default=0)
    er.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (backend openai)")
    er.add_argument("--max-retries", type=int, default=2, help="retries per request after the first (backend "
                    "openai: timeouts, connection errors, 429 and 5xx, honouring Retry-After)")
    er.set_defaults(func=cmd_eval_run)
    el = esub.add_parser("list", help="benchmarks, suites and the names other harnesses use")
    el.set_defaults(func=cmd_eval_list)
    es = esub.add_parser("score", help="score a prediction file (JSONL, JSON list, dict by id), no model")
    es.add_argument("predictions")
    _eval_common(es)
    es.add_argument("--field", default="response", help="field with the response (extracted here), or one "
                    "holding an already extracted answer (e.g. MathVista's `extraction`)")
    es.add_argument("--id-field", default="id", help="id field of each prediction (dict keys count as ids)")
    es.set_defaults(func=cmd_eval_score)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    _quiet_libraries()
    from stagewise.config import RecipeError
    from stagewise.data.sources import DataError
    from stagewise.lock import FolderLocked
    from stagewise.train.checkpoint import CheckpointError
    from stagewise.train.provenance import RecipeChanged

    try:
        return args.func(args)
    except (RecipeError, DataError, FileNotFoundError, ValueError, FolderLocked, RecipeChanged,
            CheckpointError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
