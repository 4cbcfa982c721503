"""Pretraining a tiny preset: a long SFT on a procedural world of its own, the embedded default's stand-in for
a pretrained hub VLM.

The paper post-trains Qwen2.5-VL-7B, a model that already sees well and mis-sees some things. A randomly
initialised tiny model warm-started for a few minutes does not see well at all (about 40% on the world's
4-option perception questions), and RL on perception cannot teach a model to see what it cannot: a 4-way
reward carries about one bit per sample (measured: BENCHMARKS.md). An hour of SFT on 60,000 fresh items gives
a model that reads colours, sizes and bar values almost perfectly, like a real pretrained VLM, which the demo
then teaches to mis-see on purpose (`model.warmstart.confusions`). `make pretrain` rebuilds
`assets/tiny-pretrained` this way.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import torch

from stagewise.data.sft_rows import approx_length, arrange_order, world_sft_rows
from stagewise.data.sources import load_rows, to_dataset
from stagewise.models.load import load_model_and_processor
from stagewise.models.tiny import build_tiny_model, world_corpus
from stagewise.train.common import seed_everything
from stagewise.train.manifest import latest_checkpoint
from stagewise.train.sft import run_sft
from stagewise.utils import atomic_write_json
from stagewise.world.build import build_world
from stagewise.world.tasks import FAMILIES, WorldConfig

log = logging.getLogger(__name__)


def pretrain(
    out_dir: str | Path,
    *,
    preset: str = "tiny",
    steps: int = 8000,
    size: int = 20000,
    world_seed: int = 1,
    seed: int = 0,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    save_steps: int = 2000,
    threads: int = 2,
    corpus_size: int = 1500,
    caption_qa: int = 3000,
) -> Path:
    """Build `preset` and train it by SFT on `size` fresh world items per family (reference traces, plus a
    "Describe what you see." inventory for every image, plus perception questions answered from the image and
    from the caption for `caption_qa` images per family, so that it reads captions as the paper's filter
    models do) for `steps` batches; the world is drawn with `world_seed`, so the demo's world (seed 0) is
    never trained on. Writes the model to `out_dir` (checkpoints every `save_steps` under
    `out_dir/checkpoints`; a killed run resumes from the last one)."""
    out = Path(out_dir)
    work = out / "work"  # world data and the initial model: removed once the model is written
    torch.set_num_threads(threads)
    cfg = WorldConfig(options="fixed", option_trace="none")  # the demo's world settings
    # A 10-item test split is drawn first (as in every world build) and kept out of training.
    data = build_world(work / "data", list(FAMILIES), {"train": size, "test": 10}, seed=world_seed, cfg=cfg)
    init = work / "init"
    if not (init / "model.safetensors").exists():
        build_tiny_model(preset, world_corpus(corpus_size), init, seed=seed)
    rows = []
    for fam in FAMILIES:
        rows += world_sft_rows(load_rows(data / fam / "train"), fam, None, True, caption_qa, "world")
    log.info("pretrain: %d rows, %d steps of %d", len(rows), steps, batch_size)
    seed_everything(seed)
    model, processor = load_model_and_processor(str(init), dtype=torch.float32)
    resume = latest_checkpoint(out)
    t0 = time.time()
    order = arrange_order(
        [approx_length(r) for r in rows], batch_size, steps, seed
    )  # captions batched together
    run_sft(
        model,
        processor,
        to_dataset(rows).select(order),
        out,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        logging_steps=200,
        save_steps=save_steps,
        resume=str(resume) if resume else False,
        shuffle=False,
    )
    shutil.copy(init / "stagewise_model.json", out / "stagewise_model.json")
    atomic_write_json(
        out / "pretrain.json",
        {
            "preset": preset,
            "steps": steps,
            "size": size,
            "world_seed": world_seed,
            "seed": seed,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "caption_qa": caption_qa,
            "threads": threads,
            "wall_s": time.time() - t0,
        },
    )
    (out / "training_args.bin").unlink(
        missing_ok=True
    )  # a pickle of the trainer's settings: pretrain.json says it
    shutil.rmtree(work)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return out
