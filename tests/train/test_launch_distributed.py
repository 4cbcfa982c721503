"""A real two-process GRPO stage through `accelerate launch --cpu --num_processes 2` (gloo) on the tiny
model."""

import os
from pathlib import Path

import pytest
import torch

import stagewise
from stagewise.config import load_recipe
from stagewise.models.load import load_model
from stagewise.train.launch import DIGEST_ENV, LaunchOptions, read_rank_records, weights_digest
from stagewise.train.manifest import is_done
from stagewise.train.pipeline import train_stage
from stagewise.train.plan import StagePlan, stage_rows

SRC = str(Path(stagewise.__file__).resolve().parents[1])


@pytest.mark.slow
def test_two_process_grpo_stage_saves_rank0_weights(
    tiny_model_dir, world_dir, tmp_path, monkeypatch, micro_recipe
):
    # Only its stage is trained (on the session's world, from the session's tiny model): every other section
    # is left at the defaults.
    path = micro_recipe(
        tmp_path / "runs",
        {
            "name": "ddp",
            "threads": 1,
            "world": {},
            "model": {},
            "variants": {},
            "eval": {},
            "stages": [
                {
                    "name": "perception",
                    "data": {"families": ["perception"], "size": 8, "instruction": None},
                    "trainer": {
                        "steps": 2,
                        "learning_rate": 1.0e-2,
                        "prompts_per_step": 2,
                        "group_size": 4,
                        "max_completion_length": 12,
                        "logging_steps": 1,
                    },
                }
            ],
        },
        file="recipe.yaml",
    )
    recipe = load_recipe(path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv(DIGEST_ENV, "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    opts = LaunchOptions(launcher="accelerate", cpu=True, num_processes=2)

    st = recipe.stages[0]
    plan = StagePlan(st.name, "perception", "grpo", stage_rows(st, world_dir), st.trainer, False, [st.name])

    out = train_stage(
        recipe, plan, tiny_model_dir, recipe.run_dir / "staged" / "seed0" / st.name, 0, launch=opts
    )

    assert is_done(out)
    ranks = read_rank_records(out)
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["world_size"] == 2 and r["global_step"] == 2 for r in ranks)
    assert ranks[0]["pid"] != ranks[1]["pid"]
    rank0 = ranks[0]["digest"]
    assert rank0 == ranks[1]["digest"]  # DDP kept the replicas identical
    start = weights_digest(load_model(tiny_model_dir, dtype=torch.float32))
    assert rank0 != start  # the stage trained
    assert (out / "model.safetensors").exists()
    saved = weights_digest(load_model(out, dtype=torch.float32))
    assert saved == rank0  # the checkpoint is exactly what rank 0 held, every tensor bit for bit
