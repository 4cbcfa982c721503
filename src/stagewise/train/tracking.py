"""One naming of a run in every tracker (TensorBoard, W&B, trackio), for every trainer and the evaluation.

    project   the recipe's `project`, else its name
    group     <name>/<variant>/seed<k>              (the warm start: <name>/base)
    run name  <name>/<variant>/seed<k>/<stage>      (the warm start: <name>/base; evaluation: .../eval)

Each trainer, GRPO and SFT alike (the warm start, caption SFT), logs to its stage's `report_to`: TensorBoard
into `<stage>/logs/`, W&B and trackio under the names above (transformers' callbacks read `run_name` and
`project` from the trainer's config and W&B's project and group from `WANDB_PROJECT`/`WANDB_RUN_GROUP`). Once
the run is evaluated, `log_evaluation` writes every model's accuracy per split and benchmark and the paper
table to the same trackers: into each stage's TensorBoard folder at its last training step, and as one
W&B/trackio run per arm and seed (step = position in the stage chain, the base at 0) beside its training runs,
plus a summary run.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from stagewise.analysis.runs import read_jsonl
from stagewise.eval.suites import headline
from stagewise.train.common import report_targets
from stagewise.train.summary import markdown_table
from stagewise.utils import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class RunNames:
    """How one trainer (or evaluation) is named in the trackers."""

    project: str
    """W&B / trackio project (TensorBoard has none: its folders are the runs)."""
    group: str
    """W&B group: one arm and seed, whose stages are separate runs."""
    name: str
    """Run name, unique within the project."""
    job_type: str
    """W&B job type: the stage's name, `warmstart`, `eval` or `summary`."""


def names_for(project: str, run_name: str, folder: Path, run_dir: Path) -> RunNames:
    """The names of the trainer writing `folder` (`<run>/base` or `<run>/<variant>/seed<k>/<stage>`)."""
    try:
        rel = Path(folder).absolute().relative_to(Path(run_dir).absolute())
    except ValueError:
        rel = Path(Path(folder).name)
    parts = rel.parts
    group = "/".join([run_name, *parts[:2]]) if len(parts) >= 3 else f"{run_name}/{parts[0]}"
    job = parts[-1] if len(parts) >= 3 else "warmstart"
    return RunNames(project=project, group=group, name="/".join([run_name, *parts]), job_type=job)


def name_trainer(args, names: RunNames) -> None:
    """Put the names on a TRL/transformers config (run_name; project, which trackio reads) and, when it logs
    to W&B, into the environment W&B's callback reads (project, group, job type) for the run it starts."""
    args.run_name = names.name
    if hasattr(args, "project"):
        args.project = names.project
    targets = args.report_to if isinstance(args.report_to, list) else [args.report_to]
    if "wandb" in targets:
        os.environ["WANDB_PROJECT"] = names.project
        os.environ["WANDB_RUN_GROUP"] = names.group
        os.environ["WANDB_JOB_TYPE"] = names.job_type


def eval_metrics(summary: dict) -> dict[str, float]:
    """A model's evaluation as flat tracker metrics: accuracy (%) per world split and overall, format rate and
    trace length, and each benchmark's headline number (stagewise.eval.suites.headline)."""
    out: dict[str, float] = {}
    for fam, s in (summary.get("families") or {}).items():
        if isinstance(s.get("accuracy"), int | float):
            out[f"eval/{fam}/accuracy"] = 100 * s["accuracy"]
    overall = summary.get("overall") or {}
    for key, scale in (("accuracy", 100), ("format_rate", 100), ("mean_response_tokens", 1)):
        if isinstance(overall.get(key), int | float):
            out[f"eval/overall/{key}"] = scale * overall[key]
    for bench, metrics in (summary.get("benchmarks") or {}).items():
        value = headline(bench, metrics or {})
        if value is not None:
            out[f"eval/{bench}/score"] = value
    return out


def _last_step(folder: Path) -> int:
    path = folder / "trainer_log.jsonl"
    try:
        rows = read_jsonl(path) if path.exists() else []
    except ValueError:
        rows = []
    return int(max((r["step"] for r in rows if isinstance(r.get("step"), int | float)), default=0))


def _init(module, **kwargs):
    """`module.init(**kwargs)` with only the arguments this version of the tracker takes."""
    accepted = inspect.signature(module.init).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return module.init(**kwargs)


def log_evaluation(
    run_dir: Path,
    summaries: dict[str, dict],
    targets: list[str] | str,
    project: str,
    run_name: str,
    table: tuple[list[str], list[list[str]]] | None = None,
) -> None:
    """Every evaluated model's metrics (`summaries`: label -> evaluation summary, base first, then each arm's
    stages in chain order) and the paper table (header, rows) to `targets`. A tracker that fails is logged and
    skipped: the results are already on disk."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    metrics = {label: eval_metrics(s) for label, s in summaries.items()}
    groups: dict[str, list[str]] = {}
    for label in summaries:
        if label != "base":
            groups.setdefault("/".join(label.split("/")[:2]), []).append(label)
    for target in targets:
        if target == "none":
            continue
        try:
            if target == "tensorboard":
                _tensorboard(run_dir, metrics, table)
            elif target in ("wandb", "trackio"):
                _hosted(target, metrics, groups, table, project, run_name)
            else:
                continue
            log.info("evaluation logged to %s (%d models)", target, len(metrics))
        except Exception as e:  # noqa: BLE001 — a tracker outage must not lose a finished run's tables
            log.warning("evaluation not logged to %s: %s: %s", target, type(e).__name__, e)


def _tensorboard(run_dir: Path, metrics: dict[str, dict[str, float]], table) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for label, values in metrics.items():
        folder = (run_dir / "base") if label == "base" else run_dir / label
        if not folder.is_dir():
            folder = run_dir / "eval" / "base"  # no warm start: the base is not a folder of the run
        with SummaryWriter(log_dir=str(folder / "logs")) as writer:  # beside the stage's training curves
            step = _last_step(folder)
            for key, value in values.items():
                writer.add_scalar(key, value, step)
    if table:
        with SummaryWriter(log_dir=str(run_dir / "logs" / "summary")) as writer:
            writer.add_text("paper_table", markdown_table(*table))


def _hosted(
    target: str,
    metrics: dict[str, dict[str, float]],
    groups: dict[str, list[str]],
    table,
    project: str,
    run_name: str,
) -> None:
    module = importlib.import_module(target)
    for group, labels in groups.items():
        run = _init(
            module,
            project=project,
            name=f"{run_name}/{group}/eval",
            group=f"{run_name}/{group}",
            job_type="eval",
            reinit=True,
        )
        for position, label in enumerate(["base", *labels] if "base" in metrics else labels):
            module.log({**metrics[label], "stage_position": position}, step=position)
        (getattr(run, "finish", None) or module.finish)()
    if table:
        header, rows = table
        run = _init(
            module,
            project=project,
            name=f"{run_name}/summary",
            group=run_name,
            job_type="summary",
            reinit=True,
        )
        maker = getattr(module, "Table", None)
        if maker is not None:
            module.log({"paper_table": maker(columns=header, data=rows)})
        (getattr(run, "finish", None) or module.finish)()


def log_run(recipe, summaries: dict[str, dict]) -> None:
    """`log_evaluation` for a finished run, to every tracker its trainers logged to; once per set of results
    (a rerun that evaluated nothing new logs nothing again)."""
    choices = [st.trainer.report_to for st in recipe.stages]
    if recipe.model.warmstart is not None:
        choices.append(recipe.model.warmstart.report_to)
    targets = sorted({t for c in choices for t in (report_targets(c) if report_targets(c) != "none" else [])})
    if not targets:
        return
    marker = recipe.run_dir / "logs" / "evaluation_logged.json"
    digest = hashlib.sha256(
        json.dumps([targets, summaries], sort_keys=True, default=str).encode()
    ).hexdigest()
    if marker.exists() and json.loads(marker.read_text()).get("digest") == digest:
        return
    from stagewise.report.build import run_paper_table

    try:
        table = run_paper_table(recipe.run_dir)
    except (OSError, ValueError) as e:
        log.warning("paper table not logged: %s", e)
        table = None
    log_evaluation(recipe.run_dir, summaries, targets, recipe.project or recipe.name, recipe.name, table)
    atomic_write_text(marker, json.dumps({"digest": digest, "targets": targets}))
