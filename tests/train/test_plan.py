"""The grid's arms: what each variant trains on, in which order, with how many steps."""

import logging
from collections import Counter

import pytest

from stagewise.cli import main
from stagewise.config import RecipeError, load_recipe, variant_recipe
from stagewise.train.plan import plan_variant

RECIPE = """
name: grid
output_dir: {out}
world: {{train_size: 40, test_size: 12}}
eval: {{size: 12}}
stages:
  - name: perception
    capability: perception
    data: {{families: [perception], size: 10, instruction: null}}
    trainer: {{steps: 3, prompts_per_step: 2, group_size: 2, learning_rate: 1.0e-4}}
  - name: textual
    capability: textual_reasoning
    data: {{families: [textual], size: 12, instruction: null}}
    trainer: {{steps: 4, prompts_per_step: 2, group_size: 2, learning_rate: 1.0e-4}}
    freeze_vision: true
  - name: visual
    capability: visual_reasoning
    data: {{families: [visual], size: 8, instruction: null}}
    trainer: {{steps: 5, prompts_per_step: 2, group_size: 2, learning_rate: 1.0e-4}}
variants:
  staged: {{}}
  merged: {{kind: merged}}
  caption_sft: {{kind: caption_sft}}
  reversed: {{order: [visual, textual, perception]}}
  difficulty: {{kind: difficulty}}
  capability_difficulty: {{kind: capability_difficulty}}
  longer: {{overrides: {{stages.visual.trainer.steps: 9}}}}
"""


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    return load_recipe(path)


def _ids(rows):
    return [r["id"] for r in rows]


def fake_rates(rows):
    """A deterministic stand-in for pass rates: a hash of the id in [0, 1]."""
    return {r["id"]: (sum(map(ord, r["id"])) % 11) / 10 for r in rows}


def test_merged_receives_exactly_the_union_of_the_stages_data_and_the_same_total_steps(recipe, world_dir):
    staged = plan_variant(recipe, "staged", world_dir)
    (merged,) = plan_variant(recipe, "merged", world_dir)
    union = [i for p in staged for i in _ids(p.rows)]
    assert len(union) == 10 + 12 + 8
    assert sorted(_ids(merged.rows)) == sorted(union)
    assert _ids(merged.rows) != union  # pooled and shuffled, not concatenated
    assert merged.trainer.steps == sum(p.trainer.steps for p in staged) == 12
    assert merged.trainer.prompts_per_step == 2 and merged.trainer.group_size == 2
    assert merged.method == "grpo" and merged.freeze_vision is True  # as the paper's merged run
    assert merged.sources == ["perception", "textual", "visual"]


def test_staged_chains_the_stages_in_order_with_their_own_data(recipe, world_dir):
    plans = plan_variant(recipe, "staged", world_dir)
    assert [p.name for p in plans] == ["perception", "textual", "visual"]
    assert {r["family"] for r in plans[0].rows} == {"perception"}
    assert [p.freeze_vision for p in plans] == [False, True, False]
    rev = plan_variant(recipe, "reversed", world_dir)
    assert [p.name for p in rev] == ["visual", "textual", "perception"]


def test_caption_sft_replaces_perception_rl_by_caption_sft_with_as_many_sequences(recipe, world_dir):
    plans = plan_variant(recipe, "caption_sft", world_dir)
    assert [(p.name, p.method) for p in plans] == [
        ("caption_sft", "sft"),
        ("textual", "grpo"),
        ("visual", "grpo"),
    ]
    cap = plans[0]
    assert len(cap.rows) == 10 and all(r["images"] for r in cap.rows)
    assert "caption" in cap.rows[0]["prompt"][0]["content"]
    completion = cap.rows[0]["completion"][0]["content"][0]["text"]
    assert completion.startswith("A ") and "four by four grid" in completion or "bar chart" in completion
    assert cap.trainer.steps == 3 and cap.trainer.batch_size == 2 * 2  # = the RL stage's completions per step


def test_curricula_order_easy_to_hard_without_shuffling(recipe, world_dir):
    (pooled,) = plan_variant(recipe, "difficulty", world_dir, fake_rates)
    rates = [r["pass_rate"] for r in pooled.rows]
    for modality in (True, False):  # one-modality runs: each modality's rows are in easy -> hard order
        sub = [r["pass_rate"] for r in pooled.rows if bool(r["images"]) == modality]
        assert sub == sorted(sub, reverse=True)
    half = len(rates) // 2
    assert sum(rates[:half]) / half > sum(rates[half:]) / (len(rates) - half)
    assert pooled.trainer.shuffle is False and pooled.trainer.steps == 12
    # 30 rows, a budget of 12 steps x 2 prompts = 24: an evenly spaced subsample still spans easy to hard
    assert len(pooled.rows) in (24, 26) and rates[0] == max(
        fake_rates(plan_variant(recipe, "merged", world_dir)[0].rows).values()
    )
    plans = plan_variant(recipe, "capability_difficulty", world_dir, fake_rates)
    assert [p.name for p in plans] == ["perception", "textual", "visual"]
    for p in plans:
        r = [x["pass_rate"] for x in p.rows]
        assert r == sorted(r, reverse=True) and p.trainer.shuffle is False
        assert len(p.rows) <= p.trainer.steps * p.trainer.prompts_per_step
    with pytest.raises(ValueError, match="needs pass rates"):
        plan_variant(recipe, "difficulty", world_dir)


def test_difficulty_filters_drop_solved_and_unsolved_items(recipe, world_dir):
    recipe.difficulty.drop_solved = True
    recipe.difficulty.drop_unsolved = True
    plans = plan_variant(recipe, "capability_difficulty", world_dir, fake_rates)
    rates = [r["pass_rate"] for p in plans for r in p.rows]
    assert rates and all(0 < x < 1 for x in rates)


def test_variant_overrides_apply_to_that_variant_only(recipe, world_dir):
    longer = variant_recipe(recipe, "longer")
    assert longer.stages[2].trainer.steps == 9 and recipe.stages[2].trainer.steps == 5
    assert plan_variant(longer, "longer", world_dir)[2].trainer.steps == 9


def test_mixing_ratios_draw_the_stage_size_with_the_given_shares(tmp_path, world_dir):
    path = tmp_path / "mix.yaml"
    path.write_text("""
name: mix
world: {train_size: 40, test_size: 12}
eval: {size: 12}
stages:
  - name: mixed
    data: {families: [perception, visual], size: 20, mix: {perception: 0.75, visual: 0.25}}
""")
    (plan,) = plan_variant(load_recipe(path), "staged", world_dir)
    fams = [r["family"] for r in plan.rows]
    assert len(fams) == 20 and fams.count("perception") == 15 and fams.count("visual") == 5


@pytest.mark.parametrize(
    "variants, message",
    [
        (
            "{v: {order: [perception, vision]}}",
            "variants.v.order names stage 'vision', which the recipe does not have",
        ),
        ("{v: {order: [perception, perception]}}", "variants.v.order repeats stage 'perception'"),
        ("{v: {kind: mixed}}", "variants.v.kind must be one of"),
        ("{v: {kind: caption_sft, order: [visual]}}", "no stage in its order has capability perception"),
        (
            "{v: {overrides: {stages.visual.trainer.stepz: 3}}}",
            "(variants.v.overrides): unknown key 'stages[1].trainer.stepz'",
        ),
    ],
)
def test_bad_variants_fail_before_any_training(tmp_path, variants, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""
name: bad
eval: {{size: 10}}
stages:
  - {{name: perception, capability: perception, data: {{families: [perception]}}}}
  - {{name: visual, capability: visual_reasoning, data: {{families: [visual]}}}}
variants: {variants}
""")
    with pytest.raises(RecipeError, match="bad.yaml") as e:
        load_recipe(path)
    assert message in str(e.value)


def test_a_curriculum_without_difficulty_scores_is_an_error_naming_the_stage(tmp_path, caplog):
    path = tmp_path / "cur.yaml"
    path.write_text("""
name: cur
eval: {size: 10}
stages: [{name: visual, data: {families: [visual]}}]
variants: {curriculum: {kind: difficulty}}
difficulty: {model: null}
""")
    with caplog.at_level(logging.ERROR):
        assert main(["grid", str(path)]) == 2
    assert "variants.curriculum: the difficulty curriculum needs difficulty scores" in caplog.text
    assert "stage 'visual'" in caplog.text
    assert not (tmp_path / "runs").exists()


def test_pooled_runs_give_every_rollout_batch_one_modality(recipe, world_dir):
    """TRL cannot mix image and text-only prompts in one batch: pooled plans are laid out in one-modality
    runs."""
    (merged,) = plan_variant(recipe, "merged", world_dir)
    block = merged.trainer.prompts_per_step
    runs = [merged.rows[i : i + block] for i in range(0, len(merged.rows), block)]
    assert all(len({bool(r["images"]) for r in run}) == 1 for run in runs)
    assert {bool(r["images"]) for r in merged.rows} == {True, False}
    assert merged.trainer.shuffle is False  # the trainer must read the runs in this order
    recipe.stages[0].data.size = 9  # 9 + 8 image rows: the last partial run is topped up, nothing is dropped
    (odd,) = plan_variant(recipe, "merged", world_dir)
    runs = [odd.rows[i : i + block] for i in range(0, len(odd.rows), block)]
    assert all(len(run) == block and len({bool(r["images"]) for r in run}) == 1 for run in runs)
    assert len(odd.rows) == 9 + 8 + 12 + 1 and len({r["id"] for r in odd.rows}) == 9 + 8 + 12
    (curriculum,) = plan_variant(recipe, "difficulty", world_dir, fake_rates)
    runs = [curriculum.rows[i : i + block] for i in range(0, len(curriculum.rows), block)]
    assert all(len({bool(r["images"]) for r in run}) == 1 for run in runs)


def test_a_vision_only_stage_does_not_make_the_pooled_run_vision_only(recipe, world_dir):
    recipe.stages[0].trainer.trainable = "vision"
    assert plan_variant(recipe, "staged", world_dir)[0].trainer.trainable == "vision"
    (merged,) = plan_variant(recipe, "merged", world_dir)
    assert merged.trainer.trainable == "all"


def _with_epochs(recipe, epochs):
    for s in recipe.stages:
        s.trainer.epochs = epochs
    return recipe


def test_epochs_make_every_arm_read_one_pass_several_times_at_the_same_compute(recipe, world_dir):
    """The paper trains 16/15/15 epochs per stage: with `epochs: 2` a stage takes half a budget's rows and
    reads each twice; curricula go easy to hard in every pass; merged pools the same passes' rows."""
    _with_epochs(recipe, 2)
    staged = plan_variant(recipe, "staged", world_dir)
    for p in staged:  # budget 2 x steps; one pass = steps rows (the stage has at least that many)
        one = p.trainer.steps * p.trainer.prompts_per_step // 2
        assert len(p.rows) == 2 * one and _ids(p.rows[:one]) == _ids(p.rows[one:])
        assert len(set(_ids(p.rows))) == one
    (merged,) = plan_variant(recipe, "merged", world_dir)
    assert sorted(set(_ids(merged.rows))) == sorted(i for p in staged for i in set(_ids(p.rows)))
    assert Counter(_ids(merged.rows)) == Counter(i for p in staged for i in _ids(p.rows))
    assert merged.trainer.steps == sum(p.trainer.steps for p in staged)
    for p in plan_variant(recipe, "capability_difficulty", world_dir, fake_rates):
        one = len(p.rows) // 2
        assert _ids(p.rows[:one]) == _ids(p.rows[one:])  # two passes, the same order
        r = [x["pass_rate"] for x in p.rows[:one]]
        assert r == sorted(r, reverse=True) and len(p.rows) <= p.trainer.steps * p.trainer.prompts_per_step
    (pooled,) = plan_variant(recipe, "difficulty", world_dir, fake_rates)
    assert max(Counter(_ids(pooled.rows)).values()) == 2  # each row once per pass


def test_one_epoch_leaves_every_plan_as_before(recipe, world_dir):
    before = {
        v: [_ids(p.rows) for p in plan_variant(recipe, v, world_dir, fake_rates)]
        for v in ("staged", "merged", "difficulty", "capability_difficulty")
    }
    after = {
        v: [_ids(p.rows) for p in plan_variant(_with_epochs(recipe, 1), v, world_dir, fake_rates)]
        for v in before
    }
    assert before == after
    assert [len(r) for r in before["staged"]] == [10, 12, 8]  # all of each stage's rows, TRL cycles them
