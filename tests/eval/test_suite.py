"""Recipe integration: `eval.benchmarks` is validated and scored for each model beside the world splits."""

import json

import pytest

from stagewise.config import RecipeError, load_recipe
from stagewise.train.pipeline import evaluate_models

RECIPE = """
name: r
output_dir: {out}
world: {{test_size: 12}}
stages:
  - {{name: visual, capability: visual_reasoning, data: {{families: [visual]}}}}
eval:
  size: 2
  batch_size: 4
  max_new_tokens: 4
  benchmarks:
    - {{name: mathvista, data: {data}, limit: 2, instruction: null}}
"""


def test_bad_benchmark_entries_name_the_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path, data="x.json").replace("mathvista", "nope"))
    with pytest.raises(RecipeError, match=r"eval.benchmarks\[0\].name: unknown benchmark 'nope'"):
        load_recipe(path)
    path.write_text(RECIPE.format(out=tmp_path, data="x.json").replace("limit: 2", "mode: lmms_eval"))
    with pytest.raises(RecipeError, match=r"eval.benchmarks\[0\].mode"):
        load_recipe(path)


def test_pipeline_eval_scores_benchmarks_and_skips_finished_ones(
    tmp_path, tiny_model_dir, world_dir, mathvista_like
):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", data=mathvista_like))
    recipe = load_recipe(path)
    out = tmp_path / "runs" / "r" / "eval" / "base"
    summaries = evaluate_models(recipe, [("base", tiny_model_dir, out)], world_dir)
    bench = summaries["base"]["benchmarks"]["mathvista"]
    assert bench["average"]["total"] == 2 and summaries["base"]["overall"]["n"] == 6
    metrics = tmp_path / "runs" / "r" / "eval" / "base" / "mathvista" / "metrics.json"
    assert json.loads(metrics.read_text())["run"]["benchmark"] == "mathvista"
    stamp = metrics.stat().st_mtime_ns
    evaluate_models(recipe, [("base", tiny_model_dir, out)], world_dir)
    assert metrics.stat().st_mtime_ns == stamp


def test_suites_and_other_harness_names_expand_in_a_recipe(tmp_path):
    from stagewise.eval.suite import spec_label
    from stagewise.eval.suites import SUITES

    path = tmp_path / "r.yaml"
    path.write_text(
        RECIPE.format(out=tmp_path, data="x.json").replace(
            "- {name: mathvista, data: x.json, limit: 2, instruction: null}",
            "- {name: paper-main, limit: 3}\n    - {name: MathVerse_MINI_Vision_Only, mode: chain}",
        )
    )
    specs = load_recipe(path).eval.benchmarks
    assert [spec_label(s) for s in specs] == [e.label for e in SUITES["paper-main"]] + [
        "mathverse-vision_only"
    ]
    assert all(s.limit == 3 for s in specs[:-1]) and specs[-1].mode == "chain" and specs[-1].limit is None
    assert len({spec_label(s) for s in specs}) == len(specs)  # the two MathVerse versions write apart
