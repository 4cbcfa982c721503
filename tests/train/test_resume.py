"""A run killed mid-stage (SIGTERM, then SIGKILL) resumes from its last checkpoint when the same command is
run again, and ends with the same outputs as a run that was never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stagewise.cli import main


def killme(model: Path) -> dict:
    """The micro recipe from a model folder, with a 16-step perception stage that saves every 2 steps."""
    return {
        "name": "killme",
        "world": {"train_size": 12, "test_size": 3},
        "model": {"source": str(model)},
        "stages": [
            {
                "name": "perception",
                "capability": "perception",
                "data": {"families": ["perception"], "size": 12, "instruction": None},
                "trainer": {
                    "steps": 16,
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
                "trainer": {"steps": 2, "prompts_per_step": 2, "group_size": 2, "max_completion_length": 8},
            },
        ],
        "variants": {},
        "eval": {"families": ["perception", "visual"], "size": 3, "batch_size": 4, "max_new_tokens": 8},
    }


def _outputs(run: Path) -> set[str]:
    # TensorBoard event files are named by time and pid (and a resumed stage has two): compare the folder
    # only.
    return {
        str(p.relative_to(run)) if "logs" not in p.parts else str(p.parent.relative_to(run))
        for p in run.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


@pytest.mark.slow
def test_killed_mid_stage_resumes_from_the_checkpoint(tmp_path, tiny_model_dir, micro_recipe):
    recipe = micro_recipe(tmp_path / "runs", killme(tiny_model_dir), file="killme.yaml")
    stage = tmp_path / "runs" / "killme" / "staged" / "seed0" / "perception"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagewise.cli", "run", str(recipe)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 300
        while not (stage / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((stage / "manifest.json").read_text())["status"] == "started", (
        "the stage finished before the kill"
    )

    assert main(["run", str(recipe)]) == 0
    manifest = json.loads((stage / "manifest.json").read_text())
    resumed = manifest["resumed_from"]
    assert resumed and int(resumed.rsplit("-", 1)[1]) >= 4
    log = [json.loads(x) for x in (stage / "trainer_log.jsonl").read_text().splitlines()]
    assert max(x.get("step", 0) for x in log) == 16
    assert [x["step"] for x in log if "loss" in x] == list(range(1, 17))  # no step lost, none done twice
    assert not (stage / "checkpoints").exists()

    clean = micro_recipe(tmp_path / "clean", killme(tiny_model_dir), file="clean.yaml")
    assert main(["run", str(clean)]) == 0
    assert _outputs(tmp_path / "runs" / "killme") == _outputs(tmp_path / "clean" / "killme")
    assert not [p for p in (tmp_path / "runs").rglob("*.tmp")]  # no half-written file left behind
