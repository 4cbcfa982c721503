"""`stagewise diagnose` and `stagewise report`: reading what a run produced."""

from __future__ import annotations

import sys
from pathlib import Path

from stagewise.cli.common import show_table


def cmd_diagnose(args) -> int:
    """A run directory: its final models (or every checkpoint); an items JSONL: that one eval output."""
    import torch

    from stagewise.analysis.diagnose import diagnose, diagnose_run, load_data
    from stagewise.judge import JudgeConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    judge = None
    if args.judge_url:
        if not args.judge_model:
            raise ValueError("--judge-url needs --judge-model")
        judge = JudgeConfig(url=args.judge_url, model=args.judge_model, template=args.judge_template)
    target = Path(args.target)
    common = dict(
        judge=judge,
        probe_mode=args.probe_mode,
        caption=args.caption,
        limit=args.limit,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    if target.is_dir():
        summaries = diagnose_run(
            target, probe=args.probe, which="all" if args.all_checkpoints else "final", **common
        )
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
        summaries = {
            target.parent.name: diagnose(
                target,
                load_data(args.data),
                out,
                model=model,
                processor=processor,
                captioner=captioner,
                instruction=args.instruction or None,
                **common,
            )
        }
    rows = []
    for label, s in summaries.items():
        for m in s["methods"]:
            o, a = s["overall"][m], s["vs_oracle"].get(m) or {}
            share = o["perception_share"]
            rows.append(
                [
                    label,
                    m,
                    str(s["wrong"]),
                    str(o["n"]),
                    "" if share is None else f"{100 * share:.1f}",
                    "" if a.get("precision") is None else f"{a['precision']:.2f}",
                    "" if a.get("recall") is None else f"{a['recall']:.2f}",
                ]
            )
    show_table(
        "wrong answers: perception-error share (%) and agreement with the scene-graph oracle",
        ["model", "method", "wrong", "diagnosed", "perception %", "precision", "recall"],
        rows,
    )
    return 0


def cmd_report(args) -> int:
    from stagewise.report import write_report

    path = write_report(args.run_dir, args.out)
    sys.stdout.write(f"{path}\n")
    return 0


def add_analysis_commands(sub) -> None:
    dg = sub.add_parser(
        "diagnose",
        help="attribute wrong answers to perception or reasoning (oracle, caption probe, LLM judge)",
    )
    dg.add_argument("target", help="a run directory, or one eval output items.jsonl")
    dg.add_argument(
        "--data", help="for an items file: world folder, HF dataset folder or JSONL it was asked from"
    )
    dg.add_argument("--out", help="for an items file: output folder (default: beside it, diagnosis/)")
    dg.add_argument("--model", help="for an items file: the model to re-ask in the caption probe")
    dg.add_argument("--probe", action="store_true", help="for a run directory: run the caption probe")
    dg.add_argument(
        "--probe-mode",
        default="replace",
        choices=["replace", "beside"],
        help="the caption in place of the image, or beside it",
    )
    dg.add_argument(
        "--caption",
        default="caption",
        choices=["caption", "statement"],
        help="the data's dense caption, or the scene stated as in the textual stage (world only)",
    )
    dg.add_argument("--captioner", help="a model that writes captions for items whose data has none")
    dg.add_argument("--judge-url", help="OpenAI-compatible API base, e.g. http://localhost:8000/v1")
    dg.add_argument("--judge-model", help="model name sent to the judge endpoint")
    dg.add_argument("--judge-template", default="judge_attribution", help="prompt template name or file")
    dg.add_argument("--all-checkpoints", action="store_true", help="every evaluated stage, not only the last")
    dg.add_argument(
        "--instruction", default="think_boxed", help="for an items file: prompt template; '' for none"
    )
    dg.add_argument("--limit", type=int, default=None, help="at most this many wrong items per model")
    dg.add_argument("--batch-size", type=int, default=32)
    dg.add_argument("--max-new-tokens", type=int, default=128)
    dg.add_argument("--threads", type=int, default=0)
    dg.set_defaults(func=cmd_diagnose)

    rp = sub.add_parser("report", help="HTML + Markdown report of a run or grid directory")
    rp.add_argument("run_dir")
    rp.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")
    rp.set_defaults(func=cmd_report)
