"""`stagewise model`: build a tiny VLM from a preset, optionally pretrained on a world of its own."""

from __future__ import annotations


def cmd_model(args) -> int:
    if args.pretrain_steps:
        from stagewise.models.pretrain import pretrain

        pretrain(
            args.out,
            preset=args.preset,
            steps=args.pretrain_steps,
            size=args.pretrain_size,
            world_seed=args.world_seed,
            seed=args.seed,
            threads=args.threads,
            corpus_size=args.corpus_size,
            caption_qa=args.pretrain_caption_qa,
        )
        return 0
    from stagewise.models.tiny import build_tiny_model, world_corpus

    build_tiny_model(args.preset, world_corpus(args.corpus_size), args.out, seed=args.seed)
    return 0


def add_model_command(sub) -> None:
    m = sub.add_parser(
        "model",
        help="build a tiny Qwen2-VL model from a preset (random init, local tokenizer), "
        "and optionally pretrain it",
    )
    m.add_argument("--preset", default="tiny")
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--corpus-size", type=int, default=1500)
    m.add_argument(
        "--pretrain-steps",
        type=int,
        default=0,
        help="then pretrain it by SFT on a world of its own for this many steps (0: random init only)",
    )
    m.add_argument(
        "--pretrain-size", type=int, default=20000, help="fresh world items per family to pretrain on"
    )
    m.add_argument(
        "--pretrain-caption-qa",
        type=int,
        default=3000,
        help="images per family whose perception question is also answered from the caption",
    )
    m.add_argument(
        "--world-seed", type=int, default=1, help="seed of the pretraining world (the demo's is 0)"
    )
    m.add_argument("--threads", type=int, default=2)
    m.set_defaults(func=cmd_model)
