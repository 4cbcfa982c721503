from pathlib import Path

import pytest

from stagewise.config import Recipe, RecipeError, load_recipe

# accelerate/ holds accelerate configs, not recipes; paper/ presets need their data files and are loaded in
# tests/recipes/test_presets.py
RECIPES = sorted(p for p in Path(__file__).resolve().parents[2].joinpath("recipes").rglob("*.yaml")
                 if p.parent.name not in ("accelerate", "paper"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_recipe_loads(path):
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe) and recipe.stages


def test_recipes_exist():
    assert any(p.name == "staged.yaml" for p in RECIPES)


def test_staged_demo_is_the_papers_order():
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes/tiny/staged.yaml")
    assert [s.capability for s in recipe.stages] == ["perception", "textual_reasoning", "visual_reasoning"]
    assert [s.freeze_vision for s in recipe.stages] == [False, True, False]
    assert all(s.method == "grpo" for s in recipe.stages)


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


BASE = """
name: t
stages:
  - name: perception
    capability: perception
    data: {families: [perception], size: 10}
    trainer: {steps: 3, learning_rate: 1e-4}
"""


def test_scientific_notation_and_nesting(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE))
    assert recipe.stages[0].trainer.learning_rate == pytest.approx(1e-4)
    assert recipe.stages[0].trainer.group_size == 5  # the paper's default


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE.replace("size: 10", "size: 10, sise: 3"), r"r.yaml: unknown key 'stages\[0\].data.sise'"),
        (BASE.replace("trainer:", "trainr:"), r"unknown key 'stages\[0\].trainr'"),
        (BASE + "modle: {}\n", "unknown key 'modle'"),
        (BASE.replace("[perception]", "[percepton]"), "unknown task family 'percepton'"),
        (BASE.replace("steps: 3", "steps: three"), r"stages\[0\].trainer.steps must be int"),
        (BASE.replace("data: {families: [perception], size: 10}", "data: {paths: [nowhere.jsonl]}"),
         "file not found: nowhere.jsonl"),
        (BASE.replace("method", "x") + "    method: ppo\n", "method must be grpo or sft"),
        ("stages: [{name: a, data: {families: [visual]}}, {name: a, data: {families: [visual]}}]", "used twice"),
        (BASE + "world: {option_trace: guess}\n", "world.option_trace must be lookup, scan or none"),
        (BASE.replace("families: [perception], size: 10", "perception_set: true"),
         r"stages\[0\].data.perception_set needs a top-level `perception_set:` section"),
        (BASE + "perception_set: {families: [textual]}\n", "perception_set.families: 'textual' has no images"),
        (BASE + "perception_set: {extraction: regex}\n", "perception_set.extraction must be paper or boxed"),
        (BASE + "perception_set: {question_style: llm}\n", "perception_set.question_style must be varied or world"),
        (BASE.replace("steps: 3,", "steps: 3, trainable: eyes,"), r"stages\[0\].trainer.trainable must be all or vision"),
        (BASE + "model: {warmstart: {confusions: {red: circle}}}\n",
         "model.warmstart.confusions: confusion 'red' -> 'circle'"),
        (BASE + "model: {warmstart: {confusions: {3: 8}}}\n", r"model.warmstart.confusions.3 must be str"),
        (BASE + "model: {warmstart: {confusion_rate: 1.5}}\n", r"confusion_rate must be within \[0, 1\]"),
    ],
)
def test_bad_recipes_name_file_and_key(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message) as info:
        load_recipe(write(tmp_path, text))
    assert "r.yaml" in str(info.value)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_dotted_overrides_by_index_and_stage_name(tmp_path):
    p = write(tmp_path, BASE)
    r = load_recipe(p, ["stages.perception.trainer.steps=7", "stages.0.freeze_vision=true", "seed=3",
                        "world.difficulty.clutter=2"])
    assert r.stages[0].trainer.steps == 7 and r.stages[0].freeze_vision is True
    assert r.seed == 3 and r.world.difficulty.clutter == 2
    with pytest.raises(RecipeError, match="no list item 'textual'"):
        load_recipe(p, ["stages.textual.trainer.steps=1"])
    with pytest.raises(RecipeError, match="unknown key 'stages\\[0\\].trainer.stepz'"):
        load_recipe(p, ["stages.perception.trainer.stepz=1"])
    with pytest.raises(RecipeError, match="must look like"):
        load_recipe(p, ["seed"])


def test_a_recipe_extends_another_and_overrides_its_stages_by_dotted_keys(tmp_path):
    (tmp_path / "base.yaml").write_text("""
name: base
seed: 3
world: {train_size: 50, test_size: 20}
eval: {size: 20}
stages:
  - {name: perception, data: {families: [perception], size: 10}, trainer: {steps: 100, learning_rate: 1.0e-4}}
  - {name: visual, data: {families: [visual], size: 10}, trainer: {steps: 100}}
""")
    (tmp_path / "grid.yaml").write_text("""
extends: base.yaml
name: grid
world: {test_size: 30}
seeds: [0, 1]
variants: {staged: {}, merged: {kind: merged}}
overrides: {stages.perception.trainer.steps: 40}
""")
    r = load_recipe(tmp_path / "grid.yaml", ["stages.visual.trainer.steps=7"])
    assert (r.name, r.seed, r.world.train_size, r.world.test_size) == ("grid", 3, 50, 30)
    assert [s.trainer.steps for s in r.stages] == [40, 7]
    assert r.stages[0].trainer.learning_rate == 1e-4 and list(r.variants) == ["staged", "merged"]
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(RecipeError, match="loop.yaml: extends 'loop.yaml' makes a cycle"):
        load_recipe(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(RecipeError, match="nowhere.yaml: recipe not found"):
        load_recipe(tmp_path / "orphan.yaml")


def test_an_override_of_one_stage_leaves_stages_sharing_a_yaml_anchor_alone(tmp_path):
    (tmp_path / "r.yaml").write_text("""
name: r
stages:
  - {name: a, data: {families: [visual]}, trainer: &t {steps: 10}}
  - {name: b, data: {families: [visual]}, trainer: *t}
""")
    r = load_recipe(tmp_path / "r.yaml", ["stages.a.trainer.steps=3"])
    assert [s.trainer.steps for s in r.stages] == [3, 10]


def test_a_model_folder_is_found_beside_the_recipe_from_any_working_directory(tmp_path, monkeypatch):
    (tmp_path / "assets" / "m").mkdir(parents=True)
    (tmp_path / "assets" / "m" / "config.json").write_text("{}")
    (tmp_path / "recipes").mkdir()
    recipe_file = write(tmp_path / "recipes", BASE.replace("name: t", "name: t\nmodel: {source: ../assets/m}"))
    monkeypatch.chdir(tmp_path / "recipes")
    assert load_recipe(recipe_file).model.source == str((tmp_path / "assets" / "m").resolve())
    monkeypatch.chdir(tmp_path)
    assert load_recipe(recipe_file).model.source == str((tmp_path / "assets" / "m").resolve())
    # Presets, hub ids and folders under the working directory are left as written.
    assert load_recipe(recipe_file, ["model.source=tiny"]).model.source == "tiny"
    assert load_recipe(recipe_file, ["model.source=assets/m"]).model.source == "assets/m"
    assert load_recipe(recipe_file, ["model.source=Qwen/Qwen2-VL-2B-Instruct"]).model.source == \
        "Qwen/Qwen2-VL-2B-Instruct"
