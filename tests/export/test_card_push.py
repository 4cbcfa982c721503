"""Model cards from a run folder's manifests, recipe and evaluation; `stagewise push` up to huggingface_hub's
call (the hub is never reached: HfApi's methods are replaced and what they were given is checked)."""

import json
import logging
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, ModelCard

from stagewise.cli import main
from stagewise.export.card import model_card, write_card

TOKEN = "hf_TESTsecretTOKEN0123456789abcdef"


def _manifest(folder: Path, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "status": "done",
                "recipe": "demo",
                "seed": 0,
                "versions": {"trl": "1.16.0", "stagewise": "0.1.0"},
                **fields,
            }
        )
    )
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")


def _stage(name, capability, sources, freeze=False, steps=6):
    trainer = {
        "steps": steps,
        "learning_rate": 1e-5,
        "prompts_per_step": 8,
        "group_size": 5,
        "beta": 0.01,
        "clip_low": 0.2,
        "clip_high": 0.3,
        "reward_mode": "paper",
        "trainable": "all",
    }
    return {
        "step": "stage",
        "plan": {
            "name": name,
            "capability": capability,
            "method": "grpo",
            "sources": sources,
            "freeze_vision": freeze,
            "trainer": trainer,
        },
        "compute": {"completions_generated": 240, "tokens_generated": 6000},
        "parameters": {"total": 1000, "trainable": 800 if freeze else 1000, "frozen": 200 if freeze else 0},
    }


def _summary(folder: Path, accs: dict[str, float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "families": {
                    f: {"n": 100, "accuracy": a, "mean_response_tokens": 28.0} for f, a in accs.items()
                }
            }
        )
    )


@pytest.fixture
def run(tmp_path):
    """A finished run folder as the pipeline lays it out: warm-started base, three stages, evaluations."""
    run = tmp_path / "runs" / "demo"
    run.mkdir(parents=True)
    (run / "recipe.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "demo",
                "model": {"source": "Qwen/Qwen2.5-VL-7B-Instruct"},
                "reward": {"mode": "paper"},
                "stages": [
                    {
                        "name": "perception",
                        "data": {"paths": ["UCSC-VLAA/perception-data"], "instruction": "think_boxed"},
                    },
                    {"name": "textual", "data": {"families": ["textual"]}},
                    {"name": "visual", "data": {"families": ["visual"], "instruction": "think_boxed"}},
                ],
            }
        )
    )
    _manifest(
        run / "base",
        step="warmstart",
        started_from="Qwen/Qwen2.5-VL-7B-Instruct",
        config={"steps": 40, "learning_rate": 3e-4, "families": ["perception"]},
    )
    seed = run / "staged" / "seed0"
    _manifest(
        seed / "perception",
        started_from="base",
        **_stage("perception", "perception", ["UCSC-VLAA/perception-data"]),
    )
    _manifest(
        seed / "textual",
        started_from="staged/seed0/perception",
        **_stage("textual", "textual_reasoning", ["textual"], freeze=True),
    )
    _manifest(
        seed / "visual",
        started_from="staged/seed0/textual",
        **_stage("visual", "visual_reasoning", ["visual"]),
    )
    (seed / "visual" / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (seed / "visual" / "training_args.bin").write_bytes(b"pickle")
    _summary(run / "eval" / "base", {"perception": 0.60, "visual": 0.80})
    _summary(seed / "eval" / "visual", {"perception": 0.67, "visual": 0.85})
    (seed / "eval" / "visual" / "mathvista").mkdir()
    (seed / "eval" / "visual" / "mathvista" / "metrics.json").write_text(
        json.dumps({"average": {"accuracy": 41.5}})
    )
    return run


def test_card_metadata_chain_settings_and_results(run):
    folder = run / "staged" / "seed0" / "visual"
    card = ModelCard(model_card(folder))
    data = card.data.to_dict()
    assert data["base_model"] == "Qwen/Qwen2.5-VL-7B-Instruct" and data["base_model_relation"] == "finetune"
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "image-text-to-text"
    assert data["datasets"] == [
        "UCSC-VLAA/perception-data"
    ]  # hub sources only; world families are not datasets
    assert {"stagewise", "trl", "grpo", "visual_reasoning"} <= set(data["tags"])
    results = {r.dataset_name: r for r in card.data.eval_results}
    assert results["stagewise world: visual (held-out test)"].metric_value == 85.0
    assert (
        results["mathvista"].metric_value == 41.5 and results["mathvista"].dataset_type == "AI4Math/MathVista"
    )
    assert card.data.model_name == "demo/staged/seed0/visual"
    text = card.text
    chain = [
        line.split(" | ")[0].strip("| ")
        for line in text.splitlines()
        if line.startswith("| ") and (" | GRPO | " in line or " | SFT | " in line)
    ]
    assert chain == ["base", "perception", "textual", "visual"]  # in training order, this model last
    assert "vision tower + projector (200 of 1,000)" in text  # the textual stage froze the tower
    assert "mode `paper`" in text and "| KL coefficient (beta) | 0.01 |" in text
    assert "| visual | 85.0 | 80.0 | +5.0 | 100 |" in text  # next to the base on the same split
    assert "MUST BE enclosed within <think> </think> tags" in text  # the training instruction, verbatim


def test_card_of_an_unfinished_folder_is_refused_and_a_local_root_is_not_named_by_path(run, tmp_path):
    (run / "staged" / "seed0" / "visual" / "manifest.json").write_text(json.dumps({"status": "started"}))
    with pytest.raises(ValueError, match="not a finished stage folder"):
        model_card(run / "staged" / "seed0" / "visual")
    local = tmp_path / "home" / "someone" / "my-model"
    local.mkdir(parents=True)
    base = json.loads((run / "base" / "manifest.json").read_text())
    (run / "base" / "manifest.json").write_text(json.dumps({**base, "started_from": str(local)}))
    (run / "recipe.yaml").write_text(yaml.safe_dump({"name": "demo", "model": {"source": str(local)}}))
    card = ModelCard(model_card(run / "staged" / "seed0" / "perception"))
    assert "base_model" not in card.data.to_dict()  # a local folder is not a Hub id
    assert str(local) not in str(card) and "local my-model" in card.text


def tmp_root(run: Path) -> Path:
    return run.parents[1]


def test_push_uploads_the_folder_with_its_card_and_never_shows_the_token(run, monkeypatch, capsys, caplog):
    folder = run / "staged" / "seed0" / "visual"
    local = tmp_root(run) / "home" / "me" / "data" / "visual.jsonl"  # a local path a manifest may record
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**m, "data_file": str(local)}))
    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create_repo"] = (self.token, repo_id, kw)

    def create_branch(self, repo_id, **kw):
        calls["create_branch"] = (repo_id, kw)

    def upload_folder(self, **kw):
        calls["upload"] = (self.token, kw)
        calls["card_at_upload"] = (Path(kw["folder_path"]) / "README.md").read_text()
        calls["manifest_at_upload"] = (Path(kw["folder_path"]) / "manifest.json").read_text()
        calls["files_at_upload"] = sorted(
            str(p.relative_to(kw["folder_path"])) for p in Path(kw["folder_path"]).rglob("*") if p.is_file()
        )

        class Info:
            commit_url = f"https://huggingface.co/{kw['repo_id']}/commit/abc"

        return Info()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MY_HF_TOKEN", TOKEN)
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    caplog.set_level(logging.DEBUG)
    assert (
        main(
            [
                "push",
                str(folder),
                "--repo",
                "me/demo-visual",
                "--private",
                "--revision",
                "v1",
                "--token-env",
                "MY_HF_TOKEN",
            ]
        )
        == 0
    )
    token, repo, kw = calls["create_repo"]
    assert token == TOKEN and repo == "me/demo-visual" and kw["private"] is True and kw["exist_ok"] is True
    assert calls["create_branch"] == (
        "me/demo-visual",
        {"branch": "v1", "repo_type": "model", "exist_ok": True},
    )
    token, kw = calls["upload"]
    assert token == TOKEN and kw["repo_id"] == "me/demo-visual" and kw["revision"] == "v1"
    assert Path(kw["folder_path"]).name == folder.name and kw["repo_type"] == "model"
    assert calls["files_at_upload"] == sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
    )
    # the published manifest names no local folder (the run's own one still does, for resuming)
    assert str(tmp_root(run)) not in calls["manifest_at_upload"]
    assert json.loads(calls["manifest_at_upload"])["data_file"] == "<local>/visual.jsonl"
    assert json.loads((folder / "manifest.json").read_text())["data_file"] == str(local)
    assert not list(folder.parent.glob(".*publish-*"))  # the staging copy is gone
    assert {"checkpoints/**", "training_args.bin"} <= set(kw["ignore_patterns"])
    assert calls["card_at_upload"].startswith("---\n") and '"me/demo-visual"' in calls["card_at_upload"]
    out = capsys.readouterr()
    assert out.out.strip() == "https://huggingface.co/me/demo-visual/commit/abc"
    everything = (
        out.out
        + out.err
        + caplog.text
        + "".join(p.read_text(errors="ignore") for p in run.rglob("*") if p.is_file())
    )
    assert TOKEN not in everything

    def refuse(self, **kw):  # the hub's error quoting the request, token included
        raise RuntimeError(f"401 Unauthorized: Authorization: Bearer {TOKEN}")

    monkeypatch.setattr(HfApi, "upload_folder", refuse)
    caplog.clear()
    assert main(["push", str(folder), "--repo", "me/demo-visual", "--token-env", "MY_HF_TOKEN"]) == 1
    out = capsys.readouterr()
    assert "401 Unauthorized" in caplog.text and "***" in caplog.text
    assert TOKEN not in caplog.text + out.out + out.err


def test_push_refuses_an_unfinished_folder_before_calling_the_hub(run, monkeypatch):
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **k: pytest.fail("the hub was called"))
    (run / "staged" / "seed0" / "visual" / "manifest.json").unlink()
    assert main(["push", str(run / "staged" / "seed0" / "visual"), "--repo", "me/x"]) == 2


def test_card_command_writes_readme(run, capsys):
    assert main(["card", str(run / "base")]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == run / "base" / "README.md"
    assert "the SFT warm start" in path.read_text()
    assert write_card(run / "base") == path


def test_a_preset_built_by_the_run_is_where_the_chain_starts(run):
    _manifest(run / "init", step="init", preset="tiny")
    base = json.loads((run / "base" / "manifest.json").read_text())
    (run / "base" / "manifest.json").write_text(json.dumps({**base, "started_from": "init"}))
    text = model_card(run / "staged" / "seed0" / "perception")
    assert "From `stagewise's tiny preset, randomly initialised`" in text
    assert "| init |" not in text and "| base | SFT warm start |" in text
