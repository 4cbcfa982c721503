"""The EasyR1 export: config keys as in EasyR1's example config, data rows as in its examples, the reward."""

import importlib.util
import json
import subprocess
from pathlib import Path

import datasets
import jinja2
import pytest
import yaml

from stagewise.cli import main
from stagewise.config import load_recipe
from stagewise.export.easyr1 import export_easyr1, rollout_steps, stage_config
from stagewise.rewards import paper_reward

HERE = Path(__file__).resolve().parent
EXAMPLE = yaml.safe_load((HERE / "easyr1_example_config.yaml").read_text())
# Keys of EasyR1's dataclasses that its example config leaves at their defaults
# (verl/workers/actor/config.py: ActorConfig at the same commit).
EXTRA_KEYS = {
    "worker.actor.clip_ratio_low",
    "worker.actor.clip_ratio_high",
    "worker.actor.clip_ratio_dual",
    "worker.actor.loss_avg_mode",
}

RECIPE = """
name: exp
output_dir: {out}
stages:
  - name: perception
    data: {{paths: [{world}/perception/train.jsonl]}}
    trainer: {{steps: 40, prompts_per_step: 8, prompts_per_rollout: 32, group_size: 5, beta: 0.01,
               max_completion_length: 256}}
  - name: textual
    data: {{paths: [{world}/textual/train.jsonl]}}
    trainer: {{steps: 20, prompts_per_step: 8}}
    freeze_vision: true
"""


def key_paths(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k not in ("val_override_config", "reward_function_kwargs"):
            out |= key_paths(v, prefix + k + ".")
    return out


@pytest.fixture
def exported(world_dir, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", world=world_dir))
    recipe = load_recipe(path)
    return recipe, export_easyr1(recipe, tmp_path / "easyr1", gpus_per_node=4)


def test_config_keys_are_easyr1s(exported):
    _, out = exported
    known = key_paths(EXAMPLE) | EXTRA_KEYS
    for stage in ("perception", "textual"):
        cfg = yaml.safe_load((out / stage / "config.yaml").read_text())
        assert key_paths(cfg) <= known, key_paths(cfg) - known
        assert {"data", "algorithm", "worker", "trainer"} == set(cfg)
    p = yaml.safe_load((out / "perception" / "config.yaml").read_text())
    assert p["data"]["rollout_batch_size"] == 32 and p["worker"]["actor"]["global_batch_size"] == 8
    assert p["trainer"]["max_steps"] == 10  # 40 updates at 4 updates per rollout
    assert p["worker"]["rollout"]["n"] == 5 and p["data"]["max_response_length"] == 256
    assert p["algorithm"]["kl_penalty"] == "low_var_kl" and p["algorithm"]["use_kl_loss"] is True
    assert p["trainer"]["n_gpus_per_node"] == 4
    t = yaml.safe_load((out / "textual" / "config.yaml").read_text())
    assert t["worker"]["actor"]["model"]["freeze_vision_tower"] is True
    assert t["data"]["image_dir"] is None  # text-only


def test_stages_chain_by_checkpoint_path(exported, world_dir):
    recipe, out = exported
    p = yaml.safe_load((out / "perception" / "config.yaml").read_text())
    t = yaml.safe_load((out / "textual" / "config.yaml").read_text())
    ckpt = "checkpoints/perception/global_step_10/actor"
    assert p["trainer"]["save_checkpoint_path"] == "checkpoints/perception"
    assert t["worker"]["actor"]["model"]["model_path"] == ckpt + "/huggingface"  # what model_merger writes
    script = (out / "train.sh").read_text()
    assert f'model_merger.py" --local_dir {ckpt}' in script
    assert script.index("config=perception/config.yaml") < script.index("config=textual/config.yaml")
    assert subprocess.run(["bash", "-n", str(out / "train.sh")]).returncode == 0


def test_rows_match_easyr1_examples(exported, world_dir):
    _, out = exported
    # EasyR1 loads local files with `datasets.load_dataset("json", data_files=...)`
    ds = datasets.load_dataset("json", data_files=str(out / "perception" / "train.jsonl"), split="train")
    assert set(ds.column_names) == {"problem", "answer", "images"}  # as hiyouga/geometry3k
    source = [
        json.loads(line) for line in (world_dir / "perception" / "train.jsonl").read_text().splitlines()
    ]
    assert len(ds) == len(source)
    for row, src in zip(ds, source, strict=True):
        assert row["problem"].count("<image>") == len(row["images"]) == 1 and row["problem"].startswith(
            "<image>"
        )
        assert row["answer"] == src["answer"]
        assert (out / "perception" / row["images"][0]).exists()  # relative to data.image_dir
    text = [json.loads(line) for line in (out / "textual" / "train.jsonl").read_text().splitlines()]
    assert set(text[0]) == {"problem", "answer"}  # text-only, like EasyR1's math12k


def test_format_prompt_renders_the_stagewise_prompt(exported):
    _, out = exported
    rendered = jinja2.Template((out / "format_prompt.jinja").read_text()).render(content="  What is 2+3?  ")
    assert rendered.startswith("What is 2+3?\nYou FIRST think") and rendered.endswith("\\boxed{}.")


def test_reward_file_scores_like_stagewise(exported):
    _, out = exported
    spec = importlib.util.spec_from_file_location("custom_reward_fn", out / "reward.py")  # as EasyR1 loads it
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = [
        ("<think>2 and 3 make 5.</think> \\boxed{5}", "5"),
        ("\\boxed{5}", "5"),
        ("<think>hm</think> \\boxed{4}", "5"),
        ("<think>see</think> \\boxed{B}", "B"),
        ("B", "B"),
        # an expression goes to math_verify in the copied verifier's own worker process
        ("<think>so</think> \\boxed{2^{1/2}}", "\\sqrt{2}"),
    ]
    scores = module.compute_score([{"response": r, "ground_truth": g} for r, g in cases])
    assert [s["overall"] for s in scores] == pytest.approx([1.0, 0.9, 0.1, 1.0, 0.0, 1.0])
    ours = paper_reward([r for r, _ in cases], [g for _, g in cases])
    assert [s["overall"] for s in scores] == pytest.approx(ours)
    assert module.REWARD_TYPE == "batch"


def test_sft_stages_cannot_be_exported(world_dir, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        RECIPE.format(out=tmp_path / "runs", world=world_dir).replace(
            "  - name: textual\n", "  - name: textual\n    method: sft\n"
        )
    )
    with pytest.raises(ValueError, match="textual"):
        export_easyr1(load_recipe(path), tmp_path / "out")


def test_paper_preset_maps_onto_easyr1_keys(tmp_path, monkeypatch):
    data = yaml.safe_load((HERE.parents[1] / "recipes" / "paper" / "qwen3-vl-8b.yaml").read_text())
    for name in ("perception", "textual", "visual"):
        (tmp_path / "data" / "paper").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "paper" / f"{name}.jsonl").touch()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    recipe = load_recipe(tmp_path / "r.yaml")
    assert [rollout_steps(s) for s in recipe.stages] == [90, 375, 465]
    cfg = stage_config(recipe, recipe.stages[1], "m", 8, 1, has_images=False)
    a = cfg["worker"]["actor"]
    assert (cfg["data"]["rollout_batch_size"], a["global_batch_size"], cfg["worker"]["rollout"]["n"]) == (
        512,
        128,
        5,
    )
    assert (a["optim"]["lr"], a["optim"]["weight_decay"], cfg["algorithm"]["kl_coef"]) == (1e-6, 0.01, 0.01)
    assert (a["clip_ratio_low"], a["clip_ratio_high"], a["clip_ratio_dual"], a["loss_avg_mode"]) == (
        0.2,
        0.3,
        3.0,
        "token",
    )
    assert a["model"]["freeze_vision_tower"] is True
    assert (cfg["data"]["max_prompt_length"], cfg["data"]["max_response_length"]) == (2048, 2048)


def test_cli_export(world_dir, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", world=world_dir))
    assert main(["export", "easyr1", str(path), "--out", str(tmp_path / "cli"), "--nnodes", "2"]) == 0
    cfg = yaml.safe_load((tmp_path / "cli" / "textual" / "config.yaml").read_text())
    assert cfg["trainer"]["nnodes"] == 2
