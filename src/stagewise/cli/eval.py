"""`stagewise eval run|list|score`: a model or a prediction file on benchmarks, world included."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from stagewise.cli.common import show_table, user_errors
from stagewise.eval.benchmarks import BENCHMARKS, get_benchmark, load_benchmark
from stagewise.lock import folder_lock, run_folder_of
from stagewise.utils import atomic_write_json

log = logging.getLogger("stagewise")


def _eval_settings(args, bench: str | None = None):
    from stagewise.eval.harness import EvalSettings

    default = get_benchmark(bench or args.bench).GENERATION  # the benchmark's own; the command line overrides
    instruction = default.instruction if args.instruction is None else args.instruction
    return EvalSettings(
        mode=args.mode,
        extract=args.extract,
        instruction=instruction or None,
        system_prompt=args.system_prompt or None,
        max_new_tokens=args.max_new_tokens or default.max_new_tokens,
        batch_size=args.batch_size or default.batch_size,
    )


def _judge(args):
    if not args.judge_url:
        return None
    from stagewise.judge import Judge

    if not args.judge_model:
        raise ValueError("--judge-url needs --judge-model")
    key = os.environ.get(args.judge_api_key_env or "") or None
    return Judge(args.judge_url, args.judge_model, api_key=key)


def _show_metrics(name: str, metrics: dict, label: str) -> None:
    if name == "world":
        from stagewise.train.summary import results_table

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


def _eval_lock(args):
    """An eval writes into its --out folder, or into the run folder that holds it: one writer at a time."""
    return folder_lock(run_folder_of(args.out), f"eval {args.eval_command}", wait=args.wait)


@user_errors
def cmd_eval_run(args) -> int:
    with _eval_lock(args):
        return _eval_run(args)


def _eval_run(args) -> int:
    from stagewise.eval import harness
    from stagewise.eval.backends import make_backend

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    entries = _bench_entries(args)
    backend = make_backend(
        args.backend,
        args.model,
        batch_size=_eval_settings(args, entries[0].name).batch_size,
        base_url=args.base_url,
        api_key=os.environ.get(args.api_key_env or "") or None,
        tokenizer=args.tokenizer,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
    )
    judge = _judge(args)
    scores = {}
    for entry in entries:
        # one benchmark writes into --out as before; several (a suite) each into --out/<label>/
        out = Path(args.out) if len(entries) == 1 else Path(args.out) / entry.label
        settings = _eval_settings(args, entry.name)
        if len(entries) > 1 and (out / "metrics.json").exists():
            metrics = json.loads((out / "metrics.json").read_text())
        else:
            rows = load_benchmark(
                entry.name,
                args.data,
                limit=args.limit,
                images=args.images,
                subset=args.subset or entry.subset,
            )
            metrics = harness.run(entry.name, rows, backend, out, settings, judge=judge)
        _show_metrics(entry.name, metrics, f"{Path(args.model).name} ({entry.label})")
        log.info("per-item results: %s; metrics: %s", out / "items.jsonl", out / "metrics.json")
        scores[entry.label] = suite_headline(entry.name, metrics)
    if len(entries) > 1:
        _write_suite_table(Path(args.out), {Path(args.model).name: scores})
    return 0


def _bench_entries(args) -> list:
    """--bench: one benchmark (`world` too), or a comma-separated mix of benchmarks, suites and aliases."""
    from stagewise.eval.suites import resolve

    entries = resolve(args.bench)
    if len(entries) > 1 and args.data:
        raise ValueError("--data names one benchmark's annotations: give one benchmark with it, not a suite")
    return entries


def _write_suite_table(out: Path, models: dict[str, dict]) -> None:
    from stagewise.eval.suites import suite_scores, suite_table

    header, rows = suite_table(models)
    show_table("suite (paper layout, %)", header, rows)
    atomic_write_json(
        out / "suite.json", {m: {"benchmarks": s, "averages": suite_scores(s)} for m, s in models.items()}
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    (out / "suite.md").write_text("\n".join(lines) + "\n")
    log.info("suite table: %s", out / "suite.md")


def suite_headline(name: str, metrics: dict) -> float | None:
    from stagewise.eval.suites import headline

    return headline(name, metrics)


@user_errors
def cmd_eval_list(args) -> int:
    from stagewise.eval.suites import ALIASES, SUITES

    rows = [[n, "benchmark", m.HUB_ID or ""] for n, m in BENCHMARKS.items()]
    rows += [[n, "suite", ", ".join(e.label for e in entries)] for n, entries in SUITES.items()]
    rows += [
        [n, "alias", e.name + (f" --subset {e.subset!r}" if e.subset else "")] for n, e in ALIASES.items()
    ]
    show_table("stagewise eval run MODEL --bench NAME[,NAME...]", ["name", "kind", "what"], rows)
    return 0


@user_errors
def cmd_eval_score(args) -> int:
    with _eval_lock(args):
        return _eval_score(args)


def _eval_score(args) -> int:
    from stagewise.eval import harness

    entries = _bench_entries(args)
    if len(entries) != 1:
        raise ValueError("eval score takes one benchmark (a prediction file answers one benchmark)")
    args.bench, args.subset = entries[0].name, args.subset or entries[0].subset
    rows = load_benchmark(args.bench, args.data, limit=args.limit, images=args.images, subset=args.subset)
    metrics = harness.score(
        args.bench,
        rows,
        args.predictions,
        args.out,
        _eval_settings(args),
        field=args.field,
        id_field=args.id_field,
        judge=_judge(args),
        allow_extra=args.limit is not None,
    )
    _show_metrics(args.bench, metrics, Path(args.predictions).name)
    log.info("metrics: %s", Path(args.out) / "metrics.json")
    return 0


def _eval_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bench",
        required=True,
        help="benchmark, or (eval run) a comma-separated list of benchmarks, "
        f"suites (paper-main, paper-extended) and other harnesses' names; benchmarks: {', '.join(BENCHMARKS)}"
        " (`stagewise eval list` shows every name)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="annotations: hub id, folder, JSON/JSONL/parquet/TSV file "
        "(default: the benchmark's hub id; for world: the world data folder)",
    )
    p.add_argument("--images", default=None, help="folder the annotation's image paths are relative to")
    p.add_argument(
        "--subset",
        default=None,
        help="benchmark subset (world families, MathVerse versions, POPE category), comma-separated",
    )
    p.add_argument("--out", required=True, help="output folder (items.jsonl, metrics.json)")
    p.add_argument("--limit", type=int, default=None, help="first N items only (world: per family)")
    p.add_argument("--mode", default="official", help="scoring mode (official, or a named harness mode)")
    p.add_argument(
        "--extract",
        default=None,
        choices=["chain", "raw"],
        help="pre-extraction before the benchmark's rule (default: the benchmark's)",
    )
    p.add_argument(
        "--instruction",
        default=None,
        help="prompt template appended to each question "
        "(think_boxed for trained models; '' for none; default: think_boxed for world, else none)",
    )
    p.add_argument("--system-prompt", default=None, help="system turn: template name or text (default none)")
    p.add_argument("--batch-size", type=int, default=None, help="default: 64 for world, else 16")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: 128 for world, else 1024")
    p.add_argument("--judge-url", default=None, help="OpenAI-compatible endpoint of an LLM judge")
    p.add_argument("--judge-model", default=None)
    p.add_argument("--judge-api-key-env", default=None, help="environment variable holding the judge's key")
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process writes into the output's run folder, wait for it (default: refuse at once)",
    )


def add_eval_commands(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a model on a benchmark, or score existing predictions")
    esub = e.add_subparsers(dest="eval_command", required=True)
    er = esub.add_parser("run", help="generate with a model (folder, hub id or served name) and score")
    er.add_argument("model")
    _eval_common(er)
    er.add_argument(
        "--backend",
        default="transformers",
        choices=["auto", "transformers", "vllm", "openai"],
        help="auto: vLLM when installed and on a GPU, else transformers (GPU and bf16 when there is one)",
    )
    er.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (backend openai)")
    er.add_argument("--api-key-env", default=None, help="environment variable holding the endpoint's key")
    er.add_argument("--tokenizer", default=None, help="tokenizer for think-token counts (backend openai)")
    er.add_argument("--threads", type=int, default=0)
    er.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (backend openai)")
    er.add_argument(
        "--max-retries",
        type=int,
        default=2,
        help="retries per request after the first (backend "
        "openai: timeouts, connection errors, 429 and 5xx, honouring Retry-After)",
    )
    er.set_defaults(func=cmd_eval_run)
    el = esub.add_parser("list", help="benchmarks, suites and the names other harnesses use")
    el.set_defaults(func=cmd_eval_list)
    es = esub.add_parser("score", help="score a prediction file (JSONL, JSON list, dict by id), no model")
    es.add_argument("predictions")
    _eval_common(es)
    es.add_argument(
        "--field",
        default="response",
        help="field with the response (extracted here), or one "
        "holding an already extracted answer (e.g. MathVista's `extraction`)",
    )
    es.add_argument("--id-field", default="id", help="id field of each prediction (dict keys count as ids)")
    es.set_defaults(func=cmd_eval_score)
