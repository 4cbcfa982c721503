"""Fault injection: one small run SIGKILLed at every step that holds work (world build, warm start after a
checkpoint, perception filter, mid-stage after a checkpoint, evaluation), rerun after each kill with the same
command. The final results and every model's weights must equal an uninterrupted run's, bit for bit (CPU
training here is deterministic for a seed and thread count)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch

# The micro recipe with checkpoints every 2 steps in the warm start and the perception stage (kill points),
# and a perception stage on the data engine's output as well as the world's.
FAULTS = {
    "name": "faults",
    "threads": 1,
    "world": {"train_size": 40, "test_size": 8},
    "model.warmstart": {"steps": 8, "save_steps": 2, "batch_size": 4, "size": 16, "caption_qa": 8},
    "perception_set": {
        "families": ["perception"],
        "filter_model": "base",
        "limit": 24,
        "max_new_tokens": 8,
        "batch_size": 4,
        "min_image_wrong": 0,
        "min_caption_right": 0,
    },  # the 8-step base keeps all
    "stages": [
        {
            "name": "perception",
            "capability": "perception",
            "data": {"perception_set": True, "families": ["perception"], "size": 8, "instruction": None},
            "trainer": {
                "steps": 6,
                "save_steps": 2,
                "prompts_per_step": 2,
                "group_size": 2,
                "max_completion_length": 8,
                "learning_rate": 1.0e-3,
                "logging_steps": 1,
            },
        },
        {
            "name": "visual",
            "capability": "visual_reasoning",
            "data": {"families": ["visual"], "size": 8, "instruction": None},
            "trainer": {
                "steps": 2,
                "prompts_per_step": 2,
                "group_size": 2,
                "max_completion_length": 8,
                "learning_rate": 1.0e-3,
            },
        },
    ],
    "variants": {},
    "eval": {"families": ["perception", "visual"], "size": 8, "batch_size": 2, "max_new_tokens": 8},
}

MODELS = ["init", "base", "staged/seed0/perception", "staged/seed0/visual"]
EVALS = ["eval/base", "staged/seed0/eval/perception", "staged/seed0/eval/visual"]


def _kill_points(run: Path):
    """(name, condition): the run is SIGKILLed as soon as the condition holds."""

    def has_lines(path: Path) -> bool:
        return path.exists() and path.stat().st_size > 0

    return [
        (
            "world build",
            lambda: (run / "data" / "images").exists() and not (run / "data" / "world.json").exists(),
        ),
        (
            "warm start after checkpoint-2",
            lambda: (run / "base/checkpoints/checkpoint-2/trainer_state.json").exists(),
        ),
        (
            "perception filter",
            lambda: (
                has_lines(run / "data/perception_set/filter/filter.cache.jsonl")
                or has_lines(run / "data/perception_set/filter.cache.jsonl")
            ),
        ),
        (
            "mid-stage after checkpoint-2",
            lambda: (run / "staged/seed0/perception/checkpoints/checkpoint-2/trainer_state.json").exists(),
        ),
        (
            "evaluation",
            lambda: (
                has_lines(run / "eval/base/items.jsonl") and not (run / "eval/base/summary.json").exists()
            ),
        ),
    ]


def _start(recipe: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stagewise.cli", "run", str(recipe)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(folder / "model.safetensors")


def _items(folder: Path) -> list[dict]:
    return sorted(
        (json.loads(x) for x in (folder / "items.jsonl").read_text().splitlines()), key=lambda r: r["id"]
    )


@pytest.mark.slow
def test_a_run_killed_at_every_step_ends_as_an_uninterrupted_one(tmp_path, micro_recipe):
    recipe = micro_recipe(tmp_path / "killed", FAULTS, file="faults.yaml")
    run = tmp_path / "killed" / "faults"
    killed_at = []
    for name, ready in _kill_points(run):
        proc = _start(recipe)
        deadline = time.time() + 300
        while proc.poll() is None and not ready() and time.time() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at.append(name)
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()[-3000:]
    assert len(killed_at) >= 4, killed_at  # each kill landed while the run still had work to do
    final = _start(recipe)
    assert final.wait(600) == 0, final.stderr.read().decode()[-3000:]

    clean_recipe = micro_recipe(tmp_path / "clean", FAULTS, file="clean.yaml")
    clean = _start(clean_recipe)
    assert clean.wait(600) == 0, clean.stderr.read().decode()[-3000:]
    ref = tmp_path / "clean" / "faults"

    for folder in MODELS:
        got, want = _weights(run / folder), _weights(ref / folder)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), f"{folder}: weights differ after the kills"
    for folder in EVALS:
        assert _items(run / folder) == _items(ref / folder), folder
    assert json.loads((run / "paired.json").read_text()) == json.loads((ref / "paired.json").read_text())
    resumed = json.loads((run / "staged/seed0/perception/manifest.json").read_text())["resumed_from"]
    if "mid-stage after checkpoint-2" in killed_at:
        assert resumed and resumed.startswith("checkpoint-")
    assert not list(run.rglob("*.tmp")), "a half-written file was left behind"
    assert not list(run.rglob("checkpoints"))
