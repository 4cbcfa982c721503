"""`stagewise data write-mcq | filter | export`: the perception data engine step by step."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("stagewise")


def _endpoint_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint (OpenAI-compatible server)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    g.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--retries", type=int, default=3, help="retries for timeouts, connection errors, 429, 5xx")
    g.add_argument("--backoff", type=float, default=1.0, help="first retry delay (s), doubled each retry")


def _endpoint_kw(args) -> dict:
    return {
        "api_key_env": args.api_key_env,
        "concurrency": args.concurrency,
        "timeout_s": args.timeout,
        "max_retries": args.retries,
        "backoff_s": args.backoff,
    }


def cmd_write(args) -> int:
    from stagewise.data.perception import sources
    from stagewise.data.perception.writer import WriterConfig, write_mcq
    from stagewise.endpoint import EndpointConfig

    kw = {"image_dir": args.image_dir}
    if args.source == "docci":
        kw.update(split=args.split)
    elif args.source == "hf":
        kw.update(
            work_dir=args.out,
            image_column=args.image_column,
            caption_column=args.caption_column,
            id_column=args.id_column,
            split=args.split,
        )
    elif args.source == "world":
        kw.update(families=tuple(args.families), split=args.split)
    records = sources.SOURCES[args.source](args.input, **kw)
    if args.limit is not None:
        records = records[: args.limit]
    cfg = WriterConfig(
        writer=args.writer,
        prompt=args.prompt,
        temperature=args.temperature,
        endpoint=EndpointConfig(
            base_url=args.base_url, model=args.model, max_tokens=args.max_tokens, **_endpoint_kw(args)
        ),
        model=args.model,
        batch_size=args.batch_size,
        max_new_tokens=args.max_tokens,
        style=args.style,
    )
    report = write_mcq(records, args.out, cfg, fresh=args.fresh)
    log.info(
        "items: %s/mcq.jsonl (%d written, %d failed, %d bad input)",
        args.out,
        report["written"],
        report["failed"],
        report["bad_input"],
    )
    return 0


def cmd_filter(args) -> int:
    import torch

    from stagewise.data.perception.filter import FilterConfig, model_from_spec, read_items, run_filter

    torch.set_num_threads(args.threads)
    cfg = FilterConfig(
        models=[model_from_spec(m, **_endpoint_kw(args)) for m in args.model],
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        min_image_wrong=args.min_image_wrong,
        min_caption_right=args.min_caption_right,
        batch_size=args.batch_size,
        extraction=args.extraction,
    )
    report = run_filter(read_items(args.items), args.out, cfg, fresh=args.fresh)
    log.info(
        "kept %d of %d items: %s/kept.jsonl, report %s/filter_report.md",
        report["kept"],
        report["items"],
        args.out,
        args.out,
    )
    return 0


def cmd_export(args) -> int:
    from stagewise.data.perception.export import export
    from stagewise.data.perception.filter import read_items

    names = ("train", "val", "test")
    counts = export(read_items(args.items), args.out, dict(zip(names, args.splits, strict=True)))
    log.info("exported %s to %s", counts, args.out)
    return 0


def add_perception_commands(dsub) -> None:
    """Add write-mcq, filter and export to the `stagewise data` subcommands."""
    from stagewise.data.perception.offline import STYLES
    from stagewise.data.perception.rule import EXTRACTIONS
    from stagewise.data.perception.sources import SOURCES
    from stagewise.data.perception.writer import WRITERS

    w = dsub.add_parser("write-mcq", help="captioned images -> one 4-option multiple-choice item each")
    w.add_argument("--source", required=True, choices=list(SOURCES))
    w.add_argument(
        "--input",
        required=True,
        help="DOCCI/PixMo JSONL, HF dataset (hub id, folder, parquet) or world folder",
    )
    w.add_argument("--out", required=True, help="folder for mcq.jsonl, its cache and the write report")
    w.add_argument(
        "--image-dir", default=None, help="image folder (DOCCI/PixMo; default: images/ beside input)"
    )
    w.add_argument("--image-column", default="image")
    w.add_argument("--caption-column", default="caption")
    w.add_argument("--id-column", default=None, help="default: the row number")
    w.add_argument("--split", default="train", help="DOCCI rows, HF dataset or world split to read")
    w.add_argument("--families", nargs="+", default=["perception", "visual"], help="world families to read")
    w.add_argument("--limit", type=int, default=None)
    w.add_argument("--writer", default="offline", choices=list(WRITERS))
    w.add_argument("--base-url", default="http://localhost:8000/v1")
    w.add_argument("--model", default="", help="served model name (endpoint) or hub id/folder (local)")
    w.add_argument(
        "--prompt", default="mcq_writer", help="writer prompt template (name in prompts/ or a file)"
    )
    w.add_argument("--temperature", type=float, default=0.0)
    w.add_argument("--max-tokens", type=int, default=512)
    w.add_argument("--batch-size", type=int, default=8, help="local writer batch")
    w.add_argument(
        "--style",
        default="varied",
        choices=list(STYLES),
        help="offline writer: its own varied questions, or the world's perception questions",
    )
    w.add_argument("--fresh", action="store_true", help="discard cached results in --out")
    _endpoint_args(w)
    w.set_defaults(func=cmd_write)

    f = dsub.add_parser(
        "filter", help="keep items every filter model gets wrong from the image, right from the caption"
    )
    f.add_argument("--items", required=True, help="mcq.jsonl or the write-mcq folder")
    f.add_argument("--out", required=True)
    f.add_argument(
        "--model",
        action="append",
        required=True,
        help="repeatable: folder/hub id, name=folder, or MODEL@http://host:port/v1",
    )
    f.add_argument("--samples", type=int, default=1, help="1 = one greedy pass (the paper); k = k samples")
    f.add_argument("--temperature", type=float, default=1.0, help="for --samples > 1")
    f.add_argument("--top-p", type=float, default=1.0)
    f.add_argument("--min-image-wrong", type=float, default=1.0)
    f.add_argument("--min-caption-right", type=float, default=1.0)
    f.add_argument("--max-new-tokens", type=int, default=8)
    f.add_argument(
        "--extraction",
        default="paper",
        choices=EXTRACTIONS,
        help="paper: 'answer: X' else first standalone A-D; boxed: the final answer (thinking models)",
    )
    f.add_argument("--batch-size", type=int, default=16)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--fresh", action="store_true")
    _endpoint_args(f)
    f.set_defaults(func=cmd_filter)

    e = dsub.add_parser("export", help="kept items -> hash splits -> TRL dataset, EasyR1/verl, LLaMA-Factory")
    e.add_argument("--items", required=True, help="kept.jsonl (or any items JSONL)")
    e.add_argument("--out", required=True)
    e.add_argument(
        "--splits", type=float, nargs=3, default=[0.85, 0.05, 0.10], metavar=("TRAIN", "VAL", "TEST")
    )
    e.set_defaults(func=cmd_export)
