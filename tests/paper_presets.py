"""The paper presets loaded as a user would after `stagewise data pull paper`: from a scratch folder holding a
one-row text file at each of their data paths (shared by the preset tests)."""

from __future__ import annotations

from pathlib import Path

import yaml

from stagewise.config import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]
PAPER = sorted((ROOT / "recipes" / "paper").glob("*.yaml"))


def load_preset(path: Path, tmp_path: Path, monkeypatch) -> Recipe:
    data = yaml.safe_load(path.read_text())
    for stage in data["stages"]:
        for p in stage["data"].get("paths", []):
            (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / p).write_text('{"id": "a", "problem": "1 + 1 = ?", "answer": "2"}\n')
    copy = tmp_path / path.name
    copy.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    return load_recipe(copy)
