"""Every benchmark module defines the same names (the contract in stagewise.eval.benchmarks), so the harness,
the loader and the CLI read them directly, the world's test splits included."""

import inspect
import subprocess
import sys

import pytest

from stagewise.eval.benchmarks import BENCHMARKS, load_benchmark
from stagewise.eval.benchmarks.common import EXTRACT_STYLES, Generation

CONSTANTS = {
    "MODES": tuple,
    "HUB_ID": (str, type(None)),
    "SPLIT": (str, tuple, type(None)),
    "SUBSETS": tuple,
    "OFFICIAL_EXTRACT": str,
    "HARNESS_EXTRACT": str,
    "PREDICTION_FIELDS": tuple,
    "GENERATION": Generation,
}


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_every_benchmark_declares_the_contract(name):
    names = vars(BENCHMARKS[name])
    missing = [
        k for k in [*CONSTANTS, "load", "prompt", "extract", "score", "metrics", "judge"] if k not in names
    ]
    assert not missing, f"{name} lacks {missing}"
    for key, types in CONSTANTS.items():
        assert isinstance(names[key], types), (name, key)
    assert names["MODES"][0] == "official"
    assert {names["OFFICIAL_EXTRACT"], names["HARNESS_EXTRACT"]} <= set(EXTRACT_STYLES)
    assert all(isinstance(s, str) for s in names["SUBSETS"] + names["PREDICTION_FIELDS"])
    assert names["judge"] is None or callable(names["judge"])
    assert list(inspect.signature(names["load"]).parameters) == ["source", "limit", "images", "subset"]


def test_a_benchmark_without_subsets_or_hub_id_says_so():
    with pytest.raises(ValueError, match="mmstar: takes no subset"):
        load_benchmark("mmstar", "x.jsonl", subset="a")
    with pytest.raises(ValueError, match=r"world: needs a data source \(--data\)"):
        load_benchmark("world")


def test_world_subset_picks_families(world_dir):
    rows = load_benchmark("world", str(world_dir), limit=2, subset="perception,textual")
    assert [r["family"] for r in rows] == ["perception"] * 2 + ["textual"] * 2


@pytest.mark.parametrize(
    "first",
    [
        "stagewise.eval.benchmarks.world",
        "stagewise.eval.harness",
        "stagewise.eval.world_eval",
        "stagewise.judge",
    ],
)
def test_eval_modules_import_in_any_order(first):
    """No import cycle between the harness, the world benchmark and its wrapper: each imports first on its
    own."""
    subprocess.run([sys.executable, "-c", f"import {first}"], check=True)


def test_eval_run_defaults_come_from_the_benchmark_and_the_command_line_overrides_them():
    import argparse

    from stagewise.cli.eval import _eval_settings

    args = argparse.Namespace(
        bench="world",
        instruction=None,
        mode="official",
        extract=None,
        system_prompt=None,
        max_new_tokens=None,
        batch_size=None,
    )
    world = _eval_settings(args)
    assert (world.instruction, world.max_new_tokens, world.batch_size) == ("think_boxed", 128, 64)
    other = _eval_settings(args, "mathvista")
    assert (other.instruction, other.max_new_tokens, other.batch_size) == (None, 1024, 16)
    args.instruction, args.max_new_tokens = "", 64
    assert (_eval_settings(args).instruction, _eval_settings(args).max_new_tokens) == (None, 64)
