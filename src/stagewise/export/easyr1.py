"""`stagewise export easyr1 RECIPE --out DIR`: the recipe as an EasyR1 (hiyouga/EasyR1, verl) project.

For every stage DIR/<stage>/ gets `train.jsonl` and `val.jsonl` in the format of EasyR1's own examples
(`{"problem": "<image>...", "answer": "...", "images": ["images/....png"]}`, images beside them), a
`config.yaml` with the stage's hyperparameters under EasyR1's keys, and DIR/ gets the reward function
(`reward.py`: 0.9 x accuracy + 0.1 x format in the stage's reward mode, with stagewise's own grading code
copied beside it; `reward_<mode>.py` per mode when the stages use different modes), the prompt template
(`format_prompt.jinja`) and `train.sh`, which trains the stages in order, merges each stage's last checkpoint
into a Hugging Face folder with EasyR1's `scripts/model_merger.py` and starts the next stage from it.
The export is the recipe's stages in order (the `staged` variant), with the rows the pipeline would train on.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import yaml

from stagewise.config import MODEL_PRESETS, Recipe, StageConfig
from stagewise.data.prompts import load_prompt
from stagewise.data.sources import decode_image
from stagewise.rewards import FORMAT_WEIGHT
from stagewise.rewards import paper as paper_module
from stagewise.rewards import verify as verify_module
from stagewise.train.pipeline import build_data
from stagewise.train.plan import stage_rows
from stagewise.utils import atomic_write_jsonl, atomic_write_text

log = logging.getLogger(__name__)

REWARD_PY = '''"""EasyR1 reward function exported by stagewise: 0.9 x accuracy + 0.1 x format, \
reward mode `{mode}`.

`stagewise`: stagewise's own verifier, a boxed answer only (stagewise_verify.py beside this file; needs
`pip install math-verify`). `paper`: the paper's reward function rule for rule (stagewise_paper.py; needs
`pip install mathruler pylatexenc`). EasyR1 scores responses exactly as stagewise training does.
"""

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stagewise_verify import DEFAULT_TIMEOUT_S, extract_answer, format_ok, grade, infer_kind  # noqa: E402

MODE = "{mode}"
REWARD_NAME = "stagewise_" + MODE
REWARD_TYPE = "batch"


def _paper(response: str, gold: str) -> tuple[float, float]:
    from stagewise_paper import SYMPY_TARGET, extract, normalize_response, prejudge
    from stagewise_paper import format_ok as paper_format_ok
    from stagewise_verify import call_killable

    text = normalize_response(response)
    answer = extract(text)
    correct, _ = prejudge(answer, gold)
    if correct is None:  # only sympy can decide: mathruler in a worker process, 0 past the timeout
        try:
            correct = bool(call_killable(SYMPY_TARGET, answer, gold, timeout_s=DEFAULT_TIMEOUT_S))
        except (TimeoutError, RuntimeError):
            correct = False
    return float(correct), float(paper_format_ok(text))


def compute_score(reward_inputs: list[dict[str, Any]], format_weight: float = {format_weight}) \
-> list[dict[str, float]]:
    scores = []
    for reward_input in reward_inputs:
        response, gold = reward_input["response"], str(reward_input["ground_truth"])
        if MODE == "paper":
            accuracy_score, format_score = _paper(response, gold)
        else:
            format_score = 1.0 if format_ok(response) else 0.0
            answer = extract_answer(response, boxed_only=True)
            accuracy_score = 1.0 if grade(answer, gold, infer_kind(gold)) else 0.0
        scores.append({{
            "overall": (1 - format_weight) * accuracy_score + format_weight * format_score,
            "format": format_score,
            "accuracy": accuracy_score,
        }})
    return scores
'''


def easyr1_rows(rows: list[dict], image_dir: Path, prefix: str) -> list[dict]:
    """EasyR1 rows from TRL rows without instruction; images are written as PNGs under `image_dir/images/` and
    referenced relative to it."""
    out = []
    for i, r in enumerate(rows):
        images = list(r.get("images") or [])
        question = r["prompt"][0]["content"]
        row = {"problem": "<image>" * len(images) + question, "answer": str(r["answer"])}
        paths = []
        for k, img in enumerate(images):
            rel = Path("images") / f"{prefix}-{i:06d}-{k}.png"
            (image_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(img, dict) and img.get("path"):  # a file-backed image: copied as it is
                rel = rel.with_suffix(Path(img["path"]).suffix or ".png")
                shutil.copyfile(img["path"], image_dir / rel)
            else:
                decode_image(img).save(image_dir / rel)
            paths.append(rel.as_posix())
        row["images"] = paths
        out.append(row)
    if not any(r["images"] for r in out):  # text-only data, like EasyR1's math12k: no image column at all
        for r in out:
            del r["images"]
    return out


def stage_question_rows(stage: StageConfig, data_dir: Path | None, seed: int) -> list[dict]:
    """The rows the pipeline trains the stage on (same sources, size and mix), with the bare question as
    prompt: EasyR1 appends the instruction itself (format_prompt.jinja)."""
    bare = dataclasses.replace(stage, method="grpo", data=dataclasses.replace(stage.data, instruction=None))
    return stage_rows(bare, data_dir, seed)


def rollout_steps(stage: StageConfig) -> int:
    """EasyR1 steps are rollout batches; stagewise steps are optimizer updates (several per rollout)."""
    t = stage.trainer
    per_rollout = (t.prompts_per_rollout or t.prompts_per_step) // t.prompts_per_step
    return max(1, t.steps // per_rollout)


def reward_files(recipe: Recipe) -> dict[str, str]:
    """Reward mode -> the reward file its stages use: one `reward.py`, or one file per mode when stages
    differ."""
    modes = sorted({st.trainer.reward_mode or recipe.reward.mode for st in recipe.stages})
    return {modes[0]: "reward.py"} if len(modes) == 1 else {m: f"reward_{m}.py" for m in modes}


def stage_config(
    recipe: Recipe, stage: StageConfig, model_path: str, gpus_per_node: int, nnodes: int, has_images: bool
) -> dict:
    """EasyR1 config for one stage (keys as in EasyR1's examples/config.yaml; paths relative to DIR)."""
    t = stage.trainer
    v = t.vllm
    max_prompt = (v.max_model_length - t.max_completion_length) if v.max_model_length else 2048
    lora = t.lora
    return {
        "data": {
            "train_files": f"{stage.name}/train.jsonl",
            "val_files": f"{stage.name}/val.jsonl",
            "prompt_key": "problem",
            "answer_key": "answer",
            "image_key": "images",
            "image_dir": stage.name if has_images else None,
            "max_prompt_length": max_prompt,
            "max_response_length": t.max_completion_length,
            "rollout_batch_size": t.prompts_per_rollout or t.prompts_per_step,
            "format_prompt": "format_prompt.jinja" if stage.data.instruction else None,
            "shuffle": True,
            "seed": recipe.seed,
        },
        "algorithm": {
            "adv_estimator": "grpo",
            "disable_kl": t.beta == 0,
            "use_kl_loss": True,  # the paper: KL as a loss term
            "kl_penalty": "low_var_kl",  # k3, TRL's estimator too
            "kl_coef": t.beta,
        },
        "worker": {
            "actor": {
                "global_batch_size": t.prompts_per_step,
                "max_grad_norm": t.max_grad_norm,
                "clip_ratio_low": t.clip_low,
                "clip_ratio_high": t.clip_high,
                "clip_ratio_dual": float(t.extra.get("delta") or 3.0),
                "loss_avg_mode": "seq" if t.loss_type == "grpo" else "token",
                "model": {
                    "model_path": model_path,
                    "enable_gradient_checkpointing": t.gradient_checkpointing,
                    "freeze_vision_tower": stage.freeze_vision,
                    "lora": {
                        "rank": lora.r if lora else 0,
                        "alpha": lora.alpha if lora else 64,
                        "target_modules": ",".join(lora.target_modules) if lora else "all-linear",
                        "exclude_modules": None if (lora and lora.vision) else ".*visual.*",
                    },
                },
                "optim": {
                    "lr": t.learning_rate,
                    "weight_decay": t.weight_decay,
                    "lr_warmup_ratio": t.warmup_steps / t.steps if t.steps else 0.0,
                },
            },
            "rollout": {
                "n": t.group_size,
                "temperature": t.temperature,
                "top_p": t.top_p,
                "gpu_memory_utilization": v.gpu_memory_utilization if v.mode != "off" else 0.6,
                "tensor_parallel_size": v.tensor_parallel_size,
                "val_override_config": {"temperature": 0.0, "n": 1},  # greedy, as the paper evaluates
            },
            "reward": {
                "reward_function": reward_files(recipe)[t.reward_mode or recipe.reward.mode]
                + ":compute_score"
            },
        },
        "trainer": {
            "total_epochs": 1000,  # max_steps governs
            "max_steps": rollout_steps(stage),
            "project_name": "stagewise",
            "experiment_name": f"{recipe.name}-{stage.name}",
            "logger": ["file"],
            "nnodes": nnodes,
            "n_gpus_per_node": gpus_per_node,
            "val_freq": -1,
            "val_before_train": False,
            "save_freq": -1,  # EasyR1 saves the last step anyway
            "save_checkpoint_path": f"checkpoints/{stage.name}",
        },
    }


def train_script(recipe: Recipe, stages: list[StageConfig]) -> str:
    lines = [
        "#!/bin/bash",
        f"# Trains {recipe.name} with EasyR1, stage after stage; each stage starts from the previous one's "
        "merged",
        "# checkpoint. Needs EasyR1 installed (`pip install -e .` in its clone) and EASYR1_DIR pointing at "
        "the",
        "# clone (for scripts/model_merger.py).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        'EASYR1_DIR="${EASYR1_DIR:?set EASYR1_DIR to your EasyR1 clone}"',
    ]
    for st in stages:
        ckpt = f"checkpoints/{st.name}/global_step_{rollout_steps(st)}/actor"
        lines += [
            "",
            f"# stage {st.name} ({st.capability or st.method}): {rollout_steps(st)} EasyR1 steps",
            f'if [ ! -d "{ckpt}/huggingface" ]; then',
            f"  python3 -m verl.trainer.main config={st.name}/config.yaml",
            f'  python3 "$EASYR1_DIR/scripts/model_merger.py" --local_dir {ckpt}',
            "fi",
        ]
    return "\n".join(lines) + "\n"


def base_model_path(recipe: Recipe) -> str:
    """What the first stage starts from; local folders become absolute (train.sh runs from its own folder)."""
    if recipe.model.warmstart is not None:
        return str((recipe.run_dir / "base").resolve())  # built by `stagewise run` (stops after any stage)
    if recipe.model.source in MODEL_PRESETS:
        return str((recipe.run_dir / "init").resolve())
    source = Path(recipe.model.source)
    return str(source.resolve()) if source.exists() else recipe.model.source


def export_easyr1(
    recipe: Recipe, out: str | Path, gpus_per_node: int = 8, nnodes: int = 1, val_size: int = 256
) -> Path:
    """Write the EasyR1 project for `recipe` to `out`; returns `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for st in recipe.stages:
        if st.method != "grpo":
            raise ValueError(
                f"stage {st.name!r}: EasyR1 trains RL stages only; method {st.method!r} cannot be exported"
            )
    data_dir = None
    if any(st.data.families for st in recipe.stages):
        data_dir = build_data(recipe)  # the run's world step (runs/<name>/data), reused by `stagewise run`
    model_path = base_model_path(recipe)
    for st in recipe.stages:
        folder = out / st.name
        rows = easyr1_rows(stage_question_rows(st, data_dir, recipe.seed), folder, st.name)
        if not rows:
            raise ValueError(f"stage {st.name!r}: no data rows to export")
        atomic_write_jsonl(folder / "train.jsonl", rows)
        atomic_write_jsonl(folder / "val.jsonl", rows[:val_size])
        cfg = stage_config(recipe, st, model_path, gpus_per_node, nnodes, has_images="images" in rows[0])
        atomic_write_text(folder / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        log.info(
            "easyr1: stage %s: %d rows, %d steps, from %s", st.name, len(rows), rollout_steps(st), model_path
        )
        model_path = f"checkpoints/{st.name}/global_step_{rollout_steps(st)}/actor/huggingface"
    instructions = {st.data.instruction for st in recipe.stages if st.data.instruction}
    if len(instructions) > 1:
        raise ValueError(
            f"stages use different instructions {sorted(instructions)}; EasyR1 export writes one "
            "format_prompt.jinja"
        )
    if instructions:
        atomic_write_text(
            out / "format_prompt.jinja", "{{ content | trim }}\n" + load_prompt(instructions.pop())
        )
    for mode, name in reward_files(recipe).items():
        atomic_write_text(out / name, REWARD_PY.format(format_weight=FORMAT_WEIGHT, mode=mode))
    shutil.copyfile(verify_module.__file__, out / "stagewise_verify.py")
    shutil.copyfile(paper_module.__file__, out / "stagewise_paper.py")
    atomic_write_text(out / "train.sh", train_script(recipe, recipe.stages))
    (out / "train.sh").chmod(0o755)
    return out
