"""`reward.mode` per recipe and `trainer.reward_mode` per stage: checked at load, carried into the stages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stagewise.config import REWARD_MODES, RecipeError, load_recipe
from stagewise.rewards import REWARD_MODES as MODES_IN_REWARDS

ROOT = Path(__file__).resolve().parents[2]
RECIPE = {
    "name": "r",
    "stages": [
        {"name": "a", "data": {"families": ["perception"]}},
        {"name": "b", "data": {"families": ["visual"]}, "trainer": {"reward_mode": "paper"}},
    ],
}


def _load(tmp_path: Path, data: dict, overrides: list[str] | None = None):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_recipe(path, overrides)


def test_modes_agree() -> None:
    assert REWARD_MODES == MODES_IN_REWARDS


def test_recipe_mode_fills_stages_that_set_none(tmp_path: Path) -> None:
    recipe = _load(tmp_path, RECIPE)
    assert [s.trainer.reward_mode for s in recipe.stages] == ["stagewise", "paper"]
    recipe = _load(
        tmp_path, {**RECIPE, "reward": {"mode": "paper"}}, ["stages.b.trainer.reward_mode=stagewise"]
    )
    assert [s.trainer.reward_mode for s in recipe.stages] == ["paper", "stagewise"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {**RECIPE, "reward": {"mode": "strict"}},
            "reward.mode must be one of stagewise, paper, got 'strict'",
        ),
        (
            {**RECIPE, "stages": [{**RECIPE["stages"][0], "trainer": {"reward_mode": "exact"}}]},
            r"stages\[0\].trainer.reward_mode must be one of stagewise, paper",
        ),
        ({**RECIPE, "reward": {"kind": "paper"}}, "unknown key 'reward.kind'"),
    ],
)
def test_bad_modes_are_recipe_errors(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        _load(tmp_path, data)


def test_paper_presets_use_paper_mode_and_the_demo_says_which(tmp_path: Path) -> None:
    for preset in sorted((ROOT / "recipes" / "paper").glob("*.yaml")):
        assert yaml.safe_load(preset.read_text())["reward"] == {"mode": "paper"}, preset.name
    assert yaml.safe_load((ROOT / "recipes" / "tiny" / "staged.yaml").read_text())["reward"] == {
        "mode": "stagewise"
    }


class _Stop(Exception):
    pass


def test_run_grpo_trains_with_the_stages_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stagewise.train.grpo as grpo
    from stagewise.rewards.reward import paper_accuracy_reward, paper_format_reward

    seen = []

    def fake_trainer(**kwargs):
        seen.append(kwargs["reward_funcs"])
        raise _Stop

    monkeypatch.setattr(grpo, "StageGRPOTrainer", fake_trainer)
    recipe = _load(tmp_path, RECIPE)
    for stage in recipe.stages:
        with pytest.raises(_Stop):
            grpo.run_grpo(None, None, None, tmp_path / stage.name, stage.trainer)
    assert seen[1] == [paper_accuracy_reward, paper_format_reward]
    assert [f.__qualname__ for f in seen[0]] == ["accuracy_reward", "format_reward"]
