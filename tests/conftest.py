"""Shared fixtures: a tiny world and a tiny randomly initialised Qwen2-VL model, built once per session; the
micro recipe the pipeline tests run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download anything
# STAGEWISE_TEST_THREADS=1 when something else runs beside the tests (2 spinning threads on 2 loaded cores
# run many times slower).
torch.set_num_threads(int(os.environ.get("STAGEWISE_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    from stagewise.world.build import build_world

    return build_world(
        tmp_path_factory.mktemp("world"),
        ["perception", "visual", "textual"],
        {"train": 40, "test": 12},
        seed=0,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from stagewise.models.tiny import build_tiny_model, world_corpus

    return build_tiny_model("tiny", world_corpus(200), tmp_path_factory.mktemp("tiny"), seed=0)


MICRO = Path(__file__).resolve().parent / "micro.yaml"


@pytest.fixture
def micro_recipe(tmp_path):
    """Write a recipe that extends tests/micro.yaml with the recipe loader's own `overrides:` (dotted keys; a
    top-level key replaces that whole section) and returns its path: `micro_recipe(tmp_path / "runs",
    {"world.test_size": 4})`. The run goes to `out/<name>`."""

    def make(out: Path, overrides: dict | None = None, file: str = "micro.yaml") -> Path:
        path = tmp_path / file
        path.write_text(
            yaml.safe_dump(
                {"extends": str(MICRO), "output_dir": str(out), "overrides": overrides or {}}, sort_keys=False
            )
        )
        return path

    return make
