"""Issue 18's recipe checks: device and precision fields, the evaluation backend, and `trainer.extra` keys
checked against TRL's GRPOConfig at load (a typo used to fail only when its stage's config was built, stages
into a run)."""

import pytest

from stagewise.config import RecipeError, load_recipe

BASE = "stages:\n  - name: s\n    data: {{families: [perception]}}\n{extra}"


def _load(tmp_path, text, overrides=None):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(path, overrides)


def test_defaults_are_auto_on_inference_and_fp32_for_training(tmp_path):
    r = _load(tmp_path, BASE.format(extra=""))
    assert (r.model.dtype, r.model.train_dtype, r.model.attn_implementation) == ("auto", "float32", None)
    assert r.eval.backend == "auto"


@pytest.mark.parametrize(
    "override,match",
    [
        ("model.dtype=fp8", "model.dtype must be one of auto, bfloat16"),
        ("model.train_dtype=half", "model.train_dtype must be one of"),
        ("model.attn_implementation=flash", "model.attn_implementation must be one of eager"),
        ("eval.backend=sglang", "eval.backend must be one of auto, transformers, vllm, openai"),
        ("eval.backend=openai", "needs eval.base_url"),
    ],
)
def test_bad_device_settings_are_refused_at_load(tmp_path, override, match):
    with pytest.raises(RecipeError, match=match):
        _load(tmp_path, BASE.format(extra=""), [override])


def test_trainer_extra_keys_are_checked_against_grpo_config(tmp_path):
    ok = BASE.format(extra="    trainer: {extra: {mask_truncated_completions: true, delta: 3.0}}\n")
    assert _load(tmp_path, ok).stages[0].trainer.extra["delta"] == 3.0
    bad = BASE.format(extra="    trainer: {extra: {mask_truncated_completion: true}}\n")
    with pytest.raises(
        RecipeError,
        match=r"stages\[0\].trainer.extra.mask_truncated_completion: not a field of "
        r"TRL's GRPOConfig \(similar: .*mask_truncated_completions",
    ):
        _load(tmp_path, bad)
