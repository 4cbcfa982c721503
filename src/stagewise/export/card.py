"""A Hugging Face model card (`README.md` with YAML metadata) for every trained folder of a run.

Written from what the run folder already holds, so a card can be (re)generated at any time (`stagewise card
FOLDER`) and is rewritten by the pipeline once a stage is trained and again once it is evaluated:
- the stage's `manifest.json` and those of every folder it started from (the stage chain, back to the model
  the run started from), each with its data sources, trainer settings, frozen parameters and compute;
- the run's resolved `recipe.yaml` (the reward mode, each stage's data section, the prompt);
- the stage's evaluation (`<variant>/seed<k>/eval/<stage>/summary.json`, benchmark `metrics.json` beside it)
  and the base's on the same splits.

The metadata follows the Hub's model-card conventions as TRL's own cards do (`library_name: transformers`,
`base_model` only where it is a Hub id, `tags`, `datasets`), with the evaluation as `model-index` results.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import yaml

from stagewise.utils import atomic_write_text

log = logging.getLogger(__name__)

PAPER = (
    "From Seeing to Thinking: Decoupling Perception and Reasoning Improves Post-Training of VLMs",
    "2605.20177",
)
CAPABILITY_NAMES = {
    "perception": "visual perception",
    "textual_reasoning": "textual reasoning",
    "visual_reasoning": "visual reasoning",
}
REWARDS = {
    "stagewise": (
        "0.9 x accuracy + 0.1 x format; accuracy from stagewise's verifier, crediting only the final "
        "`\\boxed{}` answer; format = the whole response matches `<think>...</think>...\\boxed{...}`"
    ),
    "paper": "the paper's reward rule for rule (mathruler): 0.9 x accuracy + 0.1 x format",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except json.JSONDecodeError:
        return None


def run_dir_of(folder: Path) -> Path | None:
    """The run folder holding `folder` (`<run>/base`, `<run>/<variant>/seed<k>/<stage>`): the nearest
    ancestor with a `recipe.yaml`."""
    for parent in list(folder.parents)[:3]:
        if (parent / "recipe.yaml").exists():
            return parent
    return None


def hub_id(ref: str | None) -> str | None:
    """`ref` if it names a Hub repository (org/name) rather than a folder on this machine."""
    if not ref or Path(ref).expanduser().exists() or not _HUB_ID.fullmatch(ref.split("@")[0]):
        return None
    return ref.split("@")[0]


def stage_chain(folder: Path) -> tuple[list[tuple[Path, dict]], str | None]:
    """The trained folders from the first one to `folder`, each with its manifest, and the model the chain
    started from outside the run (a preset name, a folder or a Hub id; None when unknown)."""
    folder = folder.resolve()
    run_dir = run_dir_of(folder)
    chain: list[tuple[Path, dict]] = []
    node: Path | None = folder
    root = None
    while node is not None and all(node != p for p, _ in chain):
        manifest = _json(node / "manifest.json")
        if manifest is None:
            break
        if manifest.get("step") == "init":  # a preset built by the run: where the chain starts, not a stage
            root = f"stagewise's {manifest.get('preset', 'tiny')} preset, randomly initialised"
            break
        chain.append((node, manifest))
        started = manifest.get("started_from") or manifest.get("preset")
        node = None
        inside = run_dir / started if started and run_dir is not None else None
        if inside is not None and (inside / "manifest.json").exists():
            node = inside.resolve()
        else:
            root = str(started) if started else None
    return chain[::-1], root


def _eval_dir(folder: Path, run_dir: Path | None) -> Path | None:
    if run_dir is None:
        return None
    if folder == run_dir / "base" or folder == run_dir / "init":
        return run_dir / "eval" / "base"
    return folder.parent / "eval" / folder.name  # <variant>/seed<k>/eval/<stage>


def evaluation(folder: Path) -> dict[str, dict]:
    """name -> {accuracy (%), n, kind, base (%)} for the world splits and benchmarks the folder was scored on,
    with the base's number on the same split when it was scored too."""
    from stagewise.eval.suites import headline

    folder = folder.resolve()
    run_dir = run_dir_of(folder)
    edir = _eval_dir(folder, run_dir)
    if edir is None:
        return {}

    def scores(d: Path) -> dict[str, dict]:
        out: dict[str, dict] = {}
        summary = _json(d / "summary.json") or {}
        for fam, s in (summary.get("families") or {}).items():
            if isinstance(s.get("accuracy"), int | float):
                out[fam] = {
                    "accuracy": 100 * s["accuracy"],
                    "n": s.get("n"),
                    "kind": "world",
                    "trace_tokens": s.get("mean_response_tokens"),
                }
        for m in sorted(d.glob("*/metrics.json")) if d.is_dir() else []:
            value = headline(m.parent.name, _json(m) or {})
            if value is not None:
                out[m.parent.name] = {"accuracy": value, "n": (_json(m) or {}).get("n"), "kind": "benchmark"}
        return out

    mine = scores(edir)
    base = scores(run_dir / "eval" / "base") if edir != run_dir / "eval" / "base" else {}
    for name, s in mine.items():
        if name in base:
            s["base"] = base[name]["accuracy"]
    return mine


def _benchmark_hub_id(name: str) -> str | None:
    from stagewise.eval.benchmarks import BENCHMARKS

    return BENCHMARKS[name].HUB_ID if name in BENCHMARKS else None


def _recipe(run_dir: Path | None) -> dict:
    if run_dir is None or not (run_dir / "recipe.yaml").exists():
        return {}
    try:
        return yaml.safe_load((run_dir / "recipe.yaml").read_text()) or {}
    except yaml.YAMLError:
        return {}


def _stage_section(recipe: dict, name: str) -> dict:
    return next((s for s in recipe.get("stages") or [] if s.get("name") == name), {})


def _sources(manifest: dict, recipe: dict) -> list[str]:
    plan = manifest.get("plan") or {}
    data = _stage_section(recipe, plan.get("name", "")).get("data") or {}
    if data.get("perception_set"):
        return ["perception data engine (questions written from captions, kept where the base mis-sees)"]
    if manifest.get("step") == "warmstart":
        return [f"world SFT traces: {', '.join((manifest.get('config') or {}).get('families') or [])}"]
    from stagewise.world.tasks import FAMILIES

    return [f"world: {s}" if s in FAMILIES else _shown(str(s)) for s in plan.get("sources") or []]


def _shown(ref: str) -> str:
    """A model or data reference as a card shows it: Hub ids and names as they are, a local path by its last
    part (a card is published; the path of someone's home folder is neither useful nor theirs to share)."""
    if hub_id(ref) or "/" not in ref:
        return ref
    return f"local {Path(ref).name}"


def _row_for(folder: Path, manifest: dict, recipe: dict) -> list[str]:
    plan = manifest.get("plan") or {}
    t = plan.get("trainer") or {}
    compute = manifest.get("compute") or {}
    params = manifest.get("parameters") or {}
    if manifest.get("step") == "warmstart":
        cfg = manifest.get("config") or {}
        return [
            folder.name,
            "SFT warm start",
            "SFT",
            "; ".join(_sources(manifest, recipe)),
            str(cfg.get("steps", "")),
            f"{cfg.get('learning_rate', '')}",
            "-",
            "-",
            "-",
        ]
    method = plan.get("method", "grpo")
    cap = CAPABILITY_NAMES.get(plan.get("capability", ""), plan.get("capability", "") or "-")
    frozen = (
        "vision tower + projector"
        if plan.get("freeze_vision")
        else "language model"
        if t.get("trainable") == "vision"
        else "none"
    )
    if params.get("frozen"):
        frozen += f" ({params['frozen']:,} of {params.get('total', 0):,})"
    return [
        folder.name,
        cap,
        method.upper(),
        "; ".join(_sources(manifest, recipe)),
        str(t.get("steps", "")),
        f"{t.get('learning_rate', '')}",
        f"{compute.get('completions_generated', 0):,}" if method == "grpo" else "-",
        f"{compute.get('tokens_generated') or 0:,}" if method == "grpo" else "-",
        frozen,
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        + ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    )


TRAINER_KEYS = [
    ("learning_rate", "learning rate (constant after warmup)"),
    ("steps", "optimizer steps"),
    ("prompts_per_step", "prompts per step"),
    ("group_size", "completions per prompt (group size)"),
    ("beta", "KL coefficient (beta)"),
    ("clip_low", "clip low (epsilon)"),
    ("clip_high", "clip high (epsilon_high)"),
    ("temperature", "rollout temperature"),
    ("max_completion_length", "max completion tokens"),
    ("loss_type", "loss aggregation"),
    ("weight_decay", "weight decay"),
    ("reward_mode", "reward mode"),
    ("batch_size", "SFT batch size"),
]


def model_card(folder: str | Path, base_model: str | None = None, repo_id: str | None = None) -> str:
    """The card's text (YAML front matter + Markdown) for a trained folder. `base_model`: the Hub id the chain
    started from, when the run started from a local copy of it; `repo_id`: where it will be published (used in
    the quick start)."""
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard_data import EvalResult

    folder = Path(folder).resolve()
    manifest = _json(folder / "manifest.json")
    if manifest is None or manifest.get("status") != "done":
        raise ValueError(f"{folder}: not a finished stage folder (no manifest.json with status done)")
    run_dir = run_dir_of(folder)
    recipe = _recipe(run_dir)
    chain, root = stage_chain(folder)
    base_model = base_model or hub_id(root) or hub_id((recipe.get("model") or {}).get("source"))
    rel = folder.relative_to(run_dir) if run_dir is not None else Path(folder.name)
    name = f"{manifest.get('recipe') or (run_dir.name if run_dir else 'stagewise')}/{rel.as_posix()}"
    plan = manifest.get("plan") or {}
    methods = {
        (m.get("plan") or {}).get("method", "sft" if m.get("step") == "warmstart" else "grpo")
        for _, m in chain
    }
    reward_mode = (
        (plan.get("trainer") or {}).get("reward_mode")
        or (recipe.get("reward") or {}).get("mode")
        or "stagewise"
    )
    results = evaluation(folder)
    datasets = sorted(
        {h for _, m in chain for s in (m.get("plan") or {}).get("sources") or [] if (h := hub_id(s))}
    )

    eval_results = [
        EvalResult(
            task_type="image-text-to-text",
            dataset_type=_benchmark_hub_id(k) or f"stagewise-world/{k}",
            dataset_name=k if r["kind"] == "benchmark" else f"stagewise world: {k} (held-out test)",
            dataset_split="test",
            metric_type="accuracy",
            metric_name="accuracy (%)",
            metric_value=round(r["accuracy"], 2),
        )
        for k, r in results.items()
    ]
    data = ModelCardData(
        base_model=base_model,
        base_model_relation="finetune" if base_model else None,
        datasets=datasets or None,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        model_name=name,
        eval_results=eval_results or None,
        tags=[
            "stagewise",
            "trl",
            *sorted(m for m in methods if m),
            "vision-language",
            "capability-staged",
            *([plan["capability"]] if plan.get("capability") else []),
        ],
    )

    stage_rows = [_row_for(p, m, recipe) for p, m in chain]
    cap = CAPABILITY_NAMES.get(plan.get("capability", ""), plan.get("capability") or manifest.get("step", ""))
    origin = _shown(root) if root else "a model not recorded in the run"
    start = f"[{base_model}](https://huggingface.co/{base_model})" if base_model else f"`{origin}`"
    k = sum(m.get("step") == "stage" for _, m in chain)
    warm = sum(m.get("step") == "warmstart" for _, m in chain)
    what = f"stage {k} ({cap})" if manifest.get("step") == "stage" else "the SFT warm start"
    lines = [
        f"# {name}",
        "",
        f"This model is {what} of a capability-staged post-training run of {start}"
        + (" after an SFT warm start" if warm and manifest.get("step") == "stage" else "")
        + f", trained with stagewise on [TRL](https://github.com/huggingface/trl) after [{PAPER[0]}]"
        f"(https://huggingface.co/papers/{PAPER[1]}): each stage has its own data and starts from the "
        "previous stage's weights.",
        "",
        "## Stage chain",
        "",
        f"From `{origin}`, in training order (this model is the last row):",
        "",
        _table(
            [
                "folder",
                "capability",
                "method",
                "data",
                "steps",
                "learning rate",
                "completions",
                "tokens generated",
                "frozen",
            ],
            stage_rows,
        ),
        "",
        "## Reward",
        "",
        (
            f"GRPO reward, mode `{reward_mode}`: {REWARDS.get(reward_mode, reward_mode)}."
            if plan.get("method") == "grpo"
            else "SFT (no reward)."
        ),
        "",
    ]
    t = plan.get("trainer") or {}
    if t:
        rows = [
            [label, str(t[k])]
            for k, label in TRAINER_KEYS
            if k in t and not (k == "batch_size" and plan.get("method") == "grpo")
        ]
        rows.append(["vision tower frozen", "yes" if plan.get("freeze_vision") else "no"])
        if t.get("lora"):
            rows.append(["LoRA (merged into these weights)", json.dumps(t["lora"])])
        lines += ["## Training settings of this stage", "", _table(["setting", "value"], rows), ""]
    if results:
        rows = [
            [
                k,
                f"{r['accuracy']:.1f}",
                "" if r.get("base") is None else f"{r['base']:.1f}",
                "" if r.get("base") is None else f"{r['accuracy'] - r['base']:+.1f}",
                str(r.get("n") or ""),
            ]
            for k, r in results.items()
        ]
        lines += [
            "## Evaluation",
            "",
            "Greedy decoding; world splits are the run's held-out test items, benchmarks "
            "use their official scorers (stagewise eval).",
            "",
            _table(["split or benchmark", "accuracy (%)", "base (%)", "vs base", "items"], rows),
            "",
        ]
    else:
        lines += ["## Evaluation", "", "Not evaluated yet.", ""]
    instruction = (
        _stage_section(recipe, plan.get("name", "")).get("data", {}).get("instruction", "think_boxed")
    )
    prompt = ""
    if instruction:
        from stagewise.data.prompts import load_prompt

        try:
            prompt = load_prompt(instruction)
        except (FileNotFoundError, ValueError):
            prompt = ""
    model_ref = repo_id or "<this folder or its Hub id>"
    lines += [
        "## Quick start",
        "",
        "Prompt it as in training: "
        + (
            f"the question, then the instruction `{prompt}`"
            if prompt
            else "the question alone (this run's stages appended no instruction)"
        )
        + ".",
        "",
        "```python",
        "from transformers import AutoModelForImageTextToText, AutoProcessor",
        "",
        f'model = AutoModelForImageTextToText.from_pretrained("{model_ref}")',
        f'processor = AutoProcessor.from_pretrained("{model_ref}")',
        "# without torchvision, families with a video slot load through stagewise:",
        "# from stagewise.models.load import load_for_inference; model, processor = "
        f'load_for_inference("{model_ref}")',
        "```",
        "",
    ]
    versions = manifest.get("versions") or {}
    lines += ["## Framework versions", ""] + [f"- {k}: {v}" for k, v in versions.items()] + [""]
    lines += [
        "## Citation",
        "",
        "```bibtex",
        f"@article{{stagewise{PAPER[1].replace('.', '')},",
        f"  title   = {{{PAPER[0]}}},",
        f"  journal = {{arXiv preprint arXiv:{PAPER[1]}}},",
        "  year    = {2026}",
        "}",
        "```",
        "",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def write_card(folder: str | Path, base_model: str | None = None, repo_id: str | None = None) -> Path:
    """Write `README.md` into a trained folder (left untouched when it already says the same: a rerun that
    finds everything done rewrites nothing); returns its path."""
    path = Path(folder) / "README.md"
    text = model_card(folder, base_model, repo_id)
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
    return path


def refresh_cards(paths) -> None:
    """(Re)write the card of each finished folder; a card is never a reason for a run to fail."""
    for folder in paths:
        folder = Path(folder)
        if not (folder / "manifest.json").exists():
            continue
        try:
            write_card(folder)
        except Exception as e:  # noqa: BLE001 — logged, the model and its results are already saved
            log.warning("model card of %s not written: %s", folder, e)
