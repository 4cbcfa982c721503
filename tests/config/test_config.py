from pathlib import Path

import pytest

from stagewise.config import Recipe, RecipeError, load_recipe

# accelerate/ holds accelerate configs, not recipes; paper/ presets need their data files and are loaded in
# tests/recipes/test_presets.py
RECIPES = sorted(
    p
    for p in Path(__file__).resolve().parents[2].joinpath("recipes").rglob("*.yaml")
    if p.parent.name not in ("accelerate", "paper")
)


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
        (
            BASE.replace("data: {families: [perception], size: 10}", "data: {paths: [nowhere.jsonl]}"),
            "file not found: nowhere.jsonl",
        ),
        (BASE.replace("method", "x") + "    method: ppo\n", "method must be one of grpo, sft, got 'ppo'"),
        (
            "stages: [{name: a, data: {families: [visual]}}, {name: a, data: {families: [visual]}}]",
            "used twice",
        ),
        (BASE + "world: {option_trace: guess}\n", "world.option_trace must be one of lookup, scan, none"),
        (
            BASE.replace("families: [perception], size: 10", "perception_set: true"),
            r"stages\[0\].data.perception_set needs a top-level `perception_set:` section",
        ),
        (
            BASE + "perception_set: {families: [textual]}\n",
            "perception_set.families: 'textual' has no images",
        ),
        (
            BASE + "perception_set: {extraction: regex}\n",
            "perception_set.extraction must be one of paper, boxed",
        ),
        (
            BASE + "perception_set: {question_style: llm}\n",
            "perception_set.question_style must be one of varied, world",
        ),
        (
            BASE.replace("steps: 3,", "steps: 3, trainable: eyes,"),
            r"stages\[0\].trainer.trainable must be one of all, vision",
        ),
        (
            BASE + "model: {warmstart: {confusions: {red: circle}}}\n",
            "model.warmstart.confusions: confusion 'red' -> 'circle'",
        ),
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
    r = load_recipe(
        p,
        [
            "stages.perception.trainer.steps=7",
            "stages.0.freeze_vision=true",
            "seed=3",
            "world.difficulty.clutter=2",
        ],
    )
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
    recipe_file = write(
        tmp_path / "recipes", BASE.replace("name: t", "name: t\nmodel: {source: ../assets/m}")
    )
    monkeypatch.chdir(tmp_path / "recipes")
    assert load_recipe(recipe_file).model.source == str((tmp_path / "assets" / "m").resolve())
    monkeypatch.chdir(tmp_path)
    assert load_recipe(recipe_file).model.source == str((tmp_path / "assets" / "m").resolve())
    # Presets, hub ids and folders under the working directory are left as written.
    assert load_recipe(recipe_file, ["model.source=tiny"]).model.source == "tiny"
    assert load_recipe(recipe_file, ["model.source=assets/m"]).model.source == "assets/m"
    assert (
        load_recipe(recipe_file, ["model.source=Qwen/Qwen2-VL-2B-Instruct"]).model.source
        == "Qwen/Qwen2-VL-2B-Instruct"
    )


# ---------------------------------------------------------------- bad input: one RecipeError at load time
TWO = (
    BASE
    + """
  - name: textual
    capability: textual_reasoning
    data: {families: [textual], size: 10}
    trainer: {steps: 3}
"""
)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stages.perception.data.size=-1"], r"stages\[0\].data.size must be > 0, got -1"),
        (["stages.textual.trainer.steps=-3"], r"stages\[1\].trainer.steps must be > 0, got -3"),
        (["stages.1.trainer.steps=0"], r"stages\[1\].trainer.steps must be > 0, got 0"),
        (["eval.size=0"], "eval.size must be > 0, got 0"),
        (["world.test_size=0"], "world.test_size must be > 0, got 0"),
        (["world.train_size=-5"], "world.train_size must be > 0, got -5"),
        (["stages.0.trainer.group_size=0"], r"stages\[0\].trainer.group_size must be > 0, got 0"),
        (["stages.0.trainer.group_size=1"], r"stages\[0\].trainer.group_size must be >= 2 for a grpo stage"),
        (["stages.0.trainer.prompts_per_step=0"], r"stages\[0\].trainer.prompts_per_step must be > 0"),
        (["stages.0.trainer.prompts_per_rollout=0"], r"stages\[0\].trainer.prompts_per_rollout must be > 0"),
        (["stages.0.trainer.batch_size=0"], r"stages\[0\].trainer.batch_size must be > 0"),
        (
            ["stages.0.trainer.max_completion_length=0"],
            r"stages\[0\].trainer.max_completion_length must be > 0",
        ),
        (["stages.0.trainer.gradient_accumulation_steps=0"], "gradient_accumulation_steps must be > 0"),
        (
            ["stages.0.trainer.gradient_accumulation_steps=3"],
            "20 completions cannot be split over gradient_accumulation_steps 3",
        ),
        (["stages.0.trainer.warmup_steps=-1"], r"stages\[0\].trainer.warmup_steps must be >= 0, got -1"),
        (["stages.0.trainer.learning_rate=0"], r"stages\[0\].trainer.learning_rate must be > 0"),
        (["stages.0.trainer.learning_rate=.nan"], r"stages\[0\].trainer.learning_rate must be > 0, got nan"),
        (["stages.0.trainer.top_p=1.5"], r"stages\[0\].trainer.top_p must be within \(0, 1\], got 1.5"),
        (["stages.0.trainer.temperature=0"], r"stages\[0\].trainer.temperature must be > 0"),
        (["stages.0.trainer.beta=-0.1"], r"stages\[0\].trainer.beta must be >= 0"),
        (
            ["stages.0.trainer.vllm.gpu_memory_utilization=0"],
            r"vllm.gpu_memory_utilization must be within \(0, 1\]",
        ),
        (["stages.0.trainer.vllm.server_port=70000"], r"vllm.server_port must be within \[1, 65535\]"),
        (["stages.0.trainer.lora.r=0"], r"stages\[0\].trainer.lora.r must be > 0"),
        (["eval.batch_size=0"], "eval.batch_size must be > 0"),
        (["eval.max_new_tokens=-1"], "eval.max_new_tokens must be > 0"),
        (["world.chart_share=2"], r"world.chart_share must be within \[0, 1\]"),
        (["world.difficulty.clutter=-1"], "world.difficulty.clutter must be >= 0"),
        (["world.difficulty.min_objects=6"], "world.difficulty.min_objects 6 exceeds max_objects 5"),
        (["world.difficulty.max_objects=17"], r"world.difficulty.max_objects must be within \[1, 16\]"),
        (["model.warmstart={steps: 0}"], "model.warmstart.steps must be > 0"),
        (["model.warmstart={caption_qa: -1}"], "model.warmstart.caption_qa must be >= 0"),
        (["model.corpus_size=0"], "model.corpus_size must be > 0"),
        (["difficulty.k=0"], "difficulty.k must be > 0"),
        (["perception_set={samples: 0}"], "perception_set.samples must be > 0"),
        (
            ["perception_set={min_caption_right: 1.5}"],
            r"perception_set.min_caption_right must be within \[0, 1\]",
        ),
        (["eval.benchmarks=[{name: pope, limit: 0}]"], r"eval.benchmarks\[0\].limit must be > 0"),
        (["threads=-1"], "threads must be >= 0"),
        (
            ["variants={c: {kind: caption_sft, caption_sft: {steps: 0}}}"],
            "variants.c.caption_sft.steps must be > 0",
        ),
        (
            ["stages.1.capability=levitation"],
            r"stages\[1\].capability must be one of '', perception, "
            r"textual_reasoning, visual_reasoning, got 'levitation'",
        ),
        (["stages=[]"], "stages is empty"),
        (["eval.families=[]"], "eval.families is empty"),
        (["model.warmstart={families: []}"], "model.warmstart.families is empty"),
        (["perception_set={families: []}"], "perception_set.families is empty"),
        (["stages.0.trainer.lora={target_modules: []}"], r"stages\[0\].trainer.lora.target_modules is empty"),
        (
            ["variants={merged: null}"],
            r"variants.merged is null; a variant must be a mapping \(`merged: \{kind: "
            r"merged\}` for the merged arm",
        ),
        (["variants={staged: {}, merged: null}"], "variants.merged is null"),
        (
            ["variants={x: {kind: pooled}}"],
            "variants.x.kind must be one of staged, merged, caption_sft, difficulty, "
            "capability_difficulty, got 'pooled'",
        ),
        (
            ["stages.1.freeze_vision=true", "stages.1.trainer.trainable=vision"],
            r"stages\[1\].freeze_vision: true and trainer.trainable: vision leave nothing to train",
        ),
        (
            ["stages.0.trainer.trainable=vision", "stages.0.trainer.lora={r: 8}"],
            r"stages\[0\].trainer.trainable: vision cannot be combined with trainer.lora",
        ),
        (
            ["stages.1.freeze_vision=true", "stages.1.trainer.lora={vision: true}"],
            r"stages\[1\].freeze_vision: true and trainer.lora.vision: true contradict each other",
        ),
        (
            ["stages.0.method=sft", "stages.0.trainer.lora={r: 8}"],
            r"stages\[0\].trainer.lora: LoRA applies to grpo",
        ),
        (
            ["stages.0.trainer.scale_rewards=std"],
            r"stages\[0\].trainer.scale_rewards must be one of group, batch, none",
        ),
        (["seed.x=3"], r"override 'seed.x': 'seed' is a scalar \(int\), not a section, so it has no key 'x'"),
        (["name.first=a"], r"override 'name.first': 'name' is a scalar \(str\)"),
        (["stages.perception.trainer.steps.max=3"], r"'stages\[0\].trainer.steps' is a scalar \(int\)"),
        (["stages.perception.trainer.stepz=1"], r"unknown key 'stages\[0\].trainer.stepz' \(known: .*steps"),
        (["trainer.steps=3"], r"unknown key 'trainer' \(known: .*stages"),
        (
            ["stages.vision.trainer.steps=3"],
            r"no list item 'vision' in 'stages' \(items: perception, textual",
        ),
        (["stages..steps=3"], "empty key"),
        (
            ["model.source=tinyy"],
            "model.source: 'tinyy' is not 'tiny' or 'small', an existing model folder, or a hub",
        ),
        (["model.source=./no/such/model"], "model.source: model folder not found: ./no/such/model"),
        (["model.source=org/bad--name"], "model.source: 'org/bad--name' is not a valid hub id"),
        (["difficulty.model=mystery"], "difficulty.model: 'mystery' is not 'base', an existing model folder"),
        (
            ["perception_set={filter_model: /no/such/filter}"],
            "perception_set.filter_model: model folder not found",
        ),
        (
            ["variants={v: {overrides: {stages.textual.trainer.steps: 0}}}"],
            r"\(variants.v.overrides\): stages\[1\].trainer.steps must be > 0",
        ),
    ],
)
def test_bad_values_are_one_recipe_error_naming_file_and_key(tmp_path, overrides, message):
    with pytest.raises(RecipeError, match=message) as info:
        load_recipe(write(tmp_path, TWO), overrides)
    assert str(info.value).startswith(str(tmp_path / "r.yaml"))


@pytest.mark.parametrize(
    "text, message",
    [
        (
            TWO.replace("steps: 3}\n", "steps: -3}\n"),
            r"r.yaml: stages\[1\].trainer.steps must be > 0, got -3",
        ),
        (
            TWO.replace("capability: perception", "capability: levitation"),
            r"stages\[0\].capability must be one of",
        ),
        (TWO + "variants: {merged: null}\n", "r.yaml: variants.merged is null"),
        (TWO + "variants:\n  staged:\n  merged: {kind: merged}\n", "r.yaml: variants.staged is null"),
        (TWO + "eval: {families: []}\n", "r.yaml: eval.families is empty"),
        ("name: t\nstages: []\n", "r.yaml: stages is empty"),
        ("name: t\n", "r.yaml: stages is empty"),
        (TWO + "  -\n", r"r.yaml: stages\[2\] is null; each item must be a mapping"),
        (
            TWO.replace(
                "    capability: textual_reasoning",
                "    capability: textual_reasoning\n    freeze_vision: true",
            ).replace("trainer: {steps: 3}\n", "trainer: {steps: 3, trainable: vision}\n"),
            r"stages\[1\].freeze_vision: true and trainer.trainable: vision",
        ),
        (TWO + "overrides: {seed.x: 3}\n", "r.yaml: override 'seed.x': 'seed' is a scalar"),
        (TWO + "seed: 4\noverrides: {seed.x: 3}\n", "r.yaml: override 'seed.x': 'seed' is a scalar"),
    ],
)
def test_bad_recipe_files_fail_at_load(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, text))


def test_edge_values_that_are_allowed_still_load(tmp_path):
    r = load_recipe(
        write(tmp_path, TWO),
        [
            "stages.0.trainer.group_size=2",
            "stages.0.trainer.warmup_steps=0",
            "stages.0.trainer.save_steps=0",
            "stages.0.trainer.beta=0",
            "stages.0.trainer.top_p=1",
            "stages.0.trainer.max_grad_norm=0",
            "stages.1.method=sft",
            "stages.1.trainer.group_size=1",
            "world.chart_share=0",
            "world.recheck_prob=1",
            "world.difficulty.clutter=0",
            "model.warmstart={caption_qa: 0}",
            "threads=0",
            "seed=-1",
            "eval.size=1",
            "world.test_size=1",
            "stages.1.capability=''",
            "stages.1.freeze_vision=true",
            "stages.0.trainer.lora={r: 1, vision: true}",
            "variants={staged: {}, merged: {kind: merged}}",
            "difficulty.model=null",
            "perception_set={filter_model: base}",
            "model.source=small",
            "seed=7",
            "world.seed=-3",
        ],
    )
    assert r.stages[0].trainer.group_size == 2 and r.stages[1].capability == ""
    assert r.seed == 7 and r.world.seed == -3 and list(r.variants) == ["staged", "merged"]


def test_an_override_creates_a_missing_section_but_not_a_key_under_a_scalar(tmp_path):
    r = load_recipe(write(tmp_path, TWO), ["stages.0.trainer.lora.r=8", "world.difficulty.max_objects=6"])
    assert r.stages[0].trainer.lora.r == 8 and r.world.difficulty.max_objects == 6
    with pytest.raises(RecipeError, match="'model.warmstart' is null"):
        load_recipe(write(tmp_path, TWO + "model: {warmstart: null}\n"), ["model.warmstart.steps=3"])
    # free-form mappings take any key
    r = load_recipe(write(tmp_path, TWO), ["stages.0.trainer.extra.mask_truncated_completions=true"])
    assert r.stages[0].trainer.extra == {"mask_truncated_completions": True}


def _numeric_fields(cls, seen=None):
    """(class, field, type) of every int/float field reachable from `cls`."""
    import dataclasses
    import typing

    seen = seen if seen is not None else set()
    if cls in seen:
        return []
    seen.add(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        parts = [tp]
        while parts:
            t = parts.pop()
            if typing.get_origin(t) is not None:
                parts += list(typing.get_args(t))
            elif dataclasses.is_dataclass(t):
                out += _numeric_fields(t, seen)
            elif t in (int, float):
                out.append((cls, f.name))
    return out


def test_every_number_in_a_recipe_has_a_range_or_is_declared_unbounded():
    from stagewise.config import _ANY_NUMBER, _RANGES

    fields = _numeric_fields(Recipe)
    assert len(fields) > 60
    missing = [
        f"{c.__name__}.{n}" for c, n in fields if n not in _RANGES.get(c, {}) and (c, n) not in _ANY_NUMBER
    ]
    assert not missing, f"add these to config._RANGES (or _ANY_NUMBER): {missing}"


def test_every_default_is_within_its_range():
    import dataclasses

    from stagewise.config import _RANGES, _check_bounds

    for cls in _RANGES:  # the loader checks only the numbers a recipe gives; a left-out one keeps its default
        defaults = {
            f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            for f in dataclasses.fields(cls)
        }
        _check_bounds(cls, defaults, f"{cls.__name__}.", "defaults")


def test_model_presets_match_the_models_module():
    from stagewise.config import MODEL_PRESETS
    from stagewise.models.tiny import PRESETS

    assert tuple(PRESETS) == MODEL_PRESETS


def _choice_fields(cls, seen=None):
    """(class, field, allowed values) of every `Literal` field reachable from `cls`."""
    import dataclasses
    import typing

    seen = seen if seen is not None else set()
    if cls in seen:
        return []
    seen.add(cls)
    out = []
    for f in dataclasses.fields(cls):
        parts = [typing.get_type_hints(cls)[f.name]]
        while parts:
            t = parts.pop()
            if typing.get_origin(t) is typing.Literal:
                out.append((cls, f.name, typing.get_args(t)))
            elif typing.get_origin(t) is not None:
                parts += list(typing.get_args(t))
            elif dataclasses.is_dataclass(t):
                out += _choice_fields(t, seen)
    return out


def test_a_value_outside_a_fields_choices_names_the_field_and_the_choices():
    from stagewise.config import _build

    fields = _choice_fields(Recipe)
    assert len(fields) >= 12
    for cls, name, allowed in fields:
        listed = ", ".join(v or "''" for v in allowed)
        with pytest.raises(
            RecipeError,
            match=rf"^r.yaml: section.{name} must be one of {listed}(, or null)?, "
            r"got 'bogus'$",
        ):
            _build(cls, {name: "bogus"}, "section.", "r.yaml")


def test_a_bad_choice_in_a_recipe_fails_at_load_and_yaml_off_is_the_string(tmp_path):
    with pytest.raises(
        RecipeError,
        match=r"r.yaml: stages\[0\].trainer.vllm.mode must be one of off, colocate, "
        r"server, got 'fast'",
    ):
        load_recipe(write(tmp_path, TWO), ["stages.0.trainer.vllm.mode=fast"])
    with pytest.raises(
        RecipeError, match=r"model.attn_implementation must be one of eager, .*, or null, got 3"
    ):
        load_recipe(write(tmp_path, TWO), ["model.attn_implementation=3"])
    assert (
        load_recipe(write(tmp_path, TWO), ["stages.0.trainer.vllm.mode=off"]).stages[0].trainer.vllm.mode
        == "off"
    )
