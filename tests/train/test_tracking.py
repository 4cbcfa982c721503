"""One naming per run and seed in every tracker; SFT stages honour report_to; evaluation metrics and the paper
table reach the same trackers (W&B and trackio replaced by recording stand-ins, TensorBoard read back)."""

import importlib.machinery
import json
import logging
import os
import sys
import types

import pytest

from stagewise.config import Recipe, StageConfig, TrainerConfig
from stagewise.train.plan import StagePlan
from stagewise.train.tracking import RunNames, log_evaluation, log_run, name_trainer, names_for


class Recorder(types.ModuleType):
    """A tracker module (`wandb`, `trackio`) that records what it is given."""

    def __init__(
        self, name: str, init_params: str = "project, name, group, job_type, reinit", fail: bool = False
    ):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec sees it as installed
        self.runs: list[dict] = []
        namespace: dict = {}
        exec(f"def init({init_params}=None):\n    return rec._init(locals())", {"rec": self}, namespace)
        self.init, self.fail = namespace["init"], fail

    def _init(self, kwargs):
        if self.fail:
            raise ConnectionError("tracker down")
        self.runs.append({"init": dict(kwargs), "logs": [], "finished": False})
        return types.SimpleNamespace(finish=lambda: self.runs[-1].update(finished=True))

    def log(self, values, step=None):
        self.runs[-1]["logs"].append((step, values))

    def finish(self):
        self.runs[-1]["finished"] = True

    class Table:
        def __init__(self, columns, data):
            self.columns, self.data = columns, data


SUMMARIES = {
    label: {
        "families": {"perception": {"accuracy": acc, "n": 6}, "visual": {"accuracy": acc / 2, "n": 6}},
        "overall": {"accuracy": acc, "format_rate": 1.0, "mean_response_tokens": 20.0},
        "benchmarks": {"mathvista": {"average": {"accuracy": 40.0}}} if label != "base" else {},
    }
    for label, acc in [
        ("base", 0.5),
        ("staged/seed0/perception", 0.6),
        ("staged/seed0/textual", 0.7),
        ("staged/seed0/visual", 0.8),
        ("merged/seed0/merged", 0.55),
    ]
}
TABLE = (["model", "seeds", "perception (%)"], [["base", "-", "50.0"], ["staged", "1", "80.0"]])


def test_names_per_run_arm_and_seed(tmp_path):
    run = tmp_path / "runs" / "demo"
    assert names_for("proj", "demo", run / "staged" / "seed1" / "visual", run) == RunNames(
        "proj", "demo/staged/seed1", "demo/staged/seed1/visual", "visual"
    )
    assert names_for("proj", "demo", run / "base", run) == RunNames(
        "proj", "demo/base", "demo/base", "warmstart"
    )


def test_sft_stages_honour_report_to_and_carry_the_names(tmp_path, monkeypatch):
    from stagewise.train.pipeline import _trainer_args

    monkeypatch.setitem(sys.modules, "wandb", Recorder("wandb"))
    for var in ("WANDB_PROJECT", "WANDB_RUN_GROUP", "WANDB_JOB_TYPE"):
        monkeypatch.delenv(var, raising=False)
    plan = StagePlan(
        name="caption_sft",
        capability="perception",
        method="sft",
        rows=[],
        freeze_vision=False,
        sources=[],
        trainer=TrainerConfig(steps=2, batch_size=4, report_to="tensorboard,wandb"),
    )
    out = tmp_path / "runs" / "demo" / "caption_sft" / "seed0" / "caption_sft"
    args = _trainer_args(plan, out, seed=0)
    assert args.report_to == ["tensorboard", "wandb"]  # was forced to "none" for every SFT stage
    name_trainer(args, names_for("proj", "demo", out, tmp_path / "runs" / "demo"))
    assert args.run_name == "demo/caption_sft/seed0/caption_sft" and args.project == "proj"
    assert (os.environ["WANDB_PROJECT"], os.environ["WANDB_RUN_GROUP"], os.environ["WANDB_JOB_TYPE"]) == (
        "proj",
        "demo/caption_sft/seed0",
        "caption_sft",
    )


def test_evaluation_and_paper_table_reach_every_tracker(world_dir, tmp_path, monkeypatch, caplog):
    from fakerun import make_run
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    make_run(world_dir, run)
    wandb = Recorder("wandb")
    trackio = Recorder("trackio", init_params="project, name")  # an older API: no group, job_type, reinit
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "trackio", trackio)
    log_evaluation(run, SUMMARIES, ["tensorboard", "wandb", "trackio"], "proj", "demo", TABLE)

    evals = {r["init"]["name"]: r for r in wandb.runs}
    assert set(evals) == {"demo/staged/seed0/eval", "demo/merged/seed0/eval", "demo/summary"}
    staged = evals["demo/staged/seed0/eval"]
    assert staged["init"]["group"] == "demo/staged/seed0" and staged["init"]["project"] == "proj"
    assert staged["init"]["job_type"] == "eval" and staged["finished"]
    # step = position in the chain: the base at 0, then each stage
    assert [step for step, _ in staged["logs"]] == [0, 1, 2, 3]
    assert staged["logs"][0][1]["eval/perception/accuracy"] == pytest.approx(50.0)
    assert staged["logs"][3][1]["eval/visual/accuracy"] == pytest.approx(40.0)
    assert staged["logs"][3][1]["eval/mathvista/score"] == 40.0
    table = evals["demo/summary"]["logs"][0][1]["paper_table"]
    assert table.columns == TABLE[0] and table.data == TABLE[1]
    assert {r["init"]["name"] for r in trackio.runs} == set(evals)
    assert all(set(r["init"]) == {"project", "name"} for r in trackio.runs)

    acc = EventAccumulator(str(run / "staged" / "seed0" / "visual" / "logs"))
    acc.Reload()
    (event,) = acc.Scalars("eval/visual/accuracy")
    assert event.step == 10 and event.value == pytest.approx(40.0)  # at the stage's last training step
    summary = EventAccumulator(str(run / "logs" / "summary"))
    summary.Reload()
    assert summary.Tags()["tensors"]  # the paper table as text

    wandb.fail = True  # a tracker that is down costs a warning, not the run
    with caplog.at_level(logging.WARNING):
        log_evaluation(run, SUMMARIES, ["wandb", "trackio"], "proj", "demo", TABLE)
    assert "evaluation not logged to wandb: ConnectionError" in caplog.text and len(trackio.runs) == 6


def test_log_run_logs_once_per_set_of_results(tmp_path, monkeypatch):
    wandb = Recorder("wandb")
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setattr("stagewise.report.build.run_paper_table", lambda run_dir: TABLE)
    recipe = Recipe(
        name="demo",
        output_dir=str(tmp_path),
        project="team",
        stages=[StageConfig(name="p", trainer=TrainerConfig(report_to="wandb"))],
    )
    log_run(recipe, SUMMARIES)
    assert len(wandb.runs) == 3 and {r["init"]["project"] for r in wandb.runs} == {"team"}
    log_run(recipe, SUMMARIES)  # a rerun that evaluated nothing new
    assert len(wandb.runs) == 3
    log_run(recipe, {**SUMMARIES, "base": {"families": {"perception": {"accuracy": 0.1}}}})
    assert len(wandb.runs) == 6
    assert json.loads((tmp_path / "demo" / "logs" / "evaluation_logged.json").read_text())["targets"] == [
        "wandb"
    ]
