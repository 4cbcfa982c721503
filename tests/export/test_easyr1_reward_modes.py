"""The EasyR1 export carries the recipe's reward mode: the exported reward file grades as stagewise trains."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from stagewise.config import Recipe, RewardConfig, StageConfig, TrainerConfig
from stagewise.export.easyr1 import REWARD_PY, reward_files
from stagewise.rewards import paper, score_responses, verify

FIXTURE = Path(__file__).parents[1] / "rewards" / "data" / "paper_rewards.jsonl"


def _exported_reward(tmp_path: Path, mode: str):
    (tmp_path / "reward.py").write_text(REWARD_PY.format(format_weight=0.1, mode=mode))
    shutil.copyfile(verify.__file__, tmp_path / "stagewise_verify.py")
    shutil.copyfile(paper.__file__, tmp_path / "stagewise_paper.py")
    spec = importlib.util.spec_from_file_location(f"custom_reward_fn_{mode}", tmp_path / "reward.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as EasyR1 loads it
    return module


@pytest.mark.parametrize("mode", ["stagewise", "paper"])
def test_exported_reward_grades_like_the_mode(tmp_path: Path, mode: str) -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()][::4]
    module = _exported_reward(tmp_path, mode)
    assert module.MODE == mode and module.REWARD_TYPE == "batch"
    scores = module.compute_score([{"response": r["response"], "ground_truth": r["answer"]} for r in rows])
    ours = score_responses([r["response"] for r in rows], [r["answer"] for r in rows], mode)
    assert [(s["overall"], s["format"], s["accuracy"]) for s in scores] == [
        (o.overall, o.format, o.accuracy) for o in ours
    ]
    if mode == "paper":  # and that is the paper's own code's result
        assert [s["overall"] for s in scores] == [r["overall"] for r in rows]


def test_one_reward_file_per_mode_when_stages_differ() -> None:
    def recipe(*modes: str | None) -> Recipe:
        return Recipe(
            reward=RewardConfig(mode="paper"),
            stages=[
                StageConfig(name=f"s{i}", trainer=TrainerConfig(reward_mode=m)) for i, m in enumerate(modes)
            ],
        )

    assert reward_files(recipe(None, "paper")) == {"paper": "reward.py"}
    assert reward_files(recipe("stagewise", None)) == {
        "paper": "reward_paper.py",
        "stagewise": "reward_stagewise.py",
    }
