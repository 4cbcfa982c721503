"""Trace-length breakdowns against hand-computed values, and reading a run directory back in chain order."""

import json

import pytest
from fakerun import make_run

from stagewise.analysis.runs import load_items, scan_run
from stagewise.analysis.traces import breakdown, final_rows, length_vs_accuracy, staged_vs_merged


def _row(
    variant, position, stage, capability, correct, response, think, truncated=False, difficulty=1, seed=0
):
    return {
        "variant": variant,
        "seed": None if variant == "base" else seed,
        "position": position,
        "stage": stage,
        "model": "base" if variant == "base" else f"{variant}/seed{seed}/{stage}",
        "capability": capability,
        "family": capability,
        "kind": "k",
        "correct": correct,
        "response_tokens": response,
        "think_tokens": think,
        "after_think_tokens": response - think,
        "truncated": truncated,
        "difficulty": difficulty,
    }


ROWS = [
    _row("base", 0, "base", "perception", False, 50, 40),
    _row("base", 0, "base", "visual", True, 30, 20),
    _row("staged", 1, "perception", "perception", True, 20, 15),
    _row("staged", 2, "visual", "perception", True, 10, 6),
    _row("staged", 2, "visual", "visual", False, 30, 24, truncated=True, difficulty=2),
    _row("staged", 2, "visual", "visual", True, 14, 10, difficulty=2),
    _row("merged", 1, "merged", "perception", False, 40, 30),
    _row("merged", 1, "merged", "visual", True, 20, 18, difficulty=2),
]


def test_breakdowns_match_hand_computed_values():
    finals = final_rows(ROWS)
    assert len(finals) == 7  # the staged perception checkpoint is not final
    by_cap = {(r["variant"], r["capability"]): r for r in breakdown(finals, ("variant", "capability"))}
    sv = by_cap[("staged", "visual")]
    assert sv["n"] == 2 and sv["accuracy"] == 0.5
    assert sv["response_tokens"] == 22 and sv["think_tokens"] == 17 and sv["after_think_tokens"] == 5
    assert sv["truncation_rate"] == 0.5
    by_correct = {(r["variant"], r["correct"]): r for r in breakdown(finals, ("variant", "correct"))}
    assert by_correct[("staged", True)]["response_tokens"] == pytest.approx(12)  # (10 + 14) / 2
    assert by_correct[("staged", True)]["think_tokens"] == pytest.approx(8)
    by_diff = {(r["variant"], r["difficulty"]): r for r in breakdown(finals, ("variant", "difficulty"))}
    assert by_diff[("staged", 2)]["accuracy"] == 0.5 and by_diff[("staged", 1)]["n"] == 1
    # Staged final: (10 + 30 + 14) / 3 = 18 tokens; merged: (40 + 20) / 2 = 30 -> -40 %.
    svm = staged_vs_merged(ROWS)
    assert svm["staged"]["response_tokens"] == pytest.approx(18)
    assert svm["response_tokens_pct"] == pytest.approx(100 * (18 / 30 - 1))
    assert svm["think_tokens_pct"] == pytest.approx(
        100 * ((40 / 3) / 24 - 1)
    )  # think (6 + 24 + 10) / 3 vs (30 + 18) / 2


def test_length_vs_accuracy_follows_the_checkpoint_chain():
    points = length_vs_accuracy(ROWS)
    assert [p["model"] for p in points] == [
        "base",
        "merged/seed0/merged",
        "staged/seed0/perception",
        "staged/seed0/visual",
    ]
    staged_final = points[-1]
    assert staged_final["accuracy"] == pytest.approx(2 / 3) and staged_final[
        "truncation_rate"
    ] == pytest.approx(1 / 3)
    assert staged_vs_merged([r for r in ROWS if r["variant"] != "merged"]) is None


def test_run_is_read_in_stage_chain_order_and_items_are_labelled(world_dir, tmp_path):
    # Stage names in reverse alphabetical training order: only the manifests' started_from gives the order.
    fates = make_run(world_dir, tmp_path / "run", {"reversed": ["visual", "textual", "perception"]})
    layout = scan_run(tmp_path / "run")
    assert [e.label for e in layout.evals] == [
        "base",
        "reversed/seed0/visual",
        "reversed/seed0/textual",
        "reversed/seed0/perception",
    ]
    assert [e.position for e in layout.evals] == [0, 1, 2, 3]
    items = load_items(layout.evals[1])
    assert {r["variant"] for r in items} == {"reversed"}
    row = items[0]
    assert row["after_think_tokens"] == row["response_tokens"] - row["think_tokens"]
    assert sum(not r["correct"] for r in items) == sum(
        f != "right" for f in fates["reversed/seed0/visual"].values()
    )


def test_bad_items_file_names_the_line_and_field(world_dir, tmp_path):
    make_run(world_dir, tmp_path / "run", {"staged": ["visual"]})
    path = tmp_path / "run" / "eval" / "base" / "items.jsonl"
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["response_tokens"]
    path.write_text("\n".join([lines[0], json.dumps(bad)] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=r"items.jsonl:2: missing field 'response_tokens'"):
        load_items(scan_run(tmp_path / "run").evals[0])


def test_paired_length_difference_matches_hand_computed_values():
    """Staged minus merged on the same items, per seed: the items' own lengths cancel out of the interval."""
    from stagewise.analysis.traces import paired_length

    def arm(variant, lengths_by_seed):
        return [
            {**_row(variant, 1, "final", "visual", True, n, 0, seed=seed), "id": f"i{i}"}
            for seed, lengths in lengths_by_seed.items()
            for i, n in enumerate(lengths)
        ]

    merged = arm("merged", {0: [10, 40, 70], 1: [12, 42, 72]})
    staged = arm("staged", {0: [8, 38, 68], 1: [11, 40, 70]})  # every item 1-2 tokens shorter
    d = paired_length(merged, staged)
    diffs = [-2, -2, -2, -1, -2, -2]
    mean = sum(diffs) / 6
    sd = (sum((x - mean) ** 2 for x in diffs) / 5) ** 0.5
    assert d["n"] == 6 and d["delta"] == pytest.approx(mean)
    assert d["ci95"] == pytest.approx(1.96 * sd / 6**0.5)
    assert d["significant"]  # items of 10 to 72 tokens, yet every pair is shorter: the interval excludes 0
    assert d["pct"] == pytest.approx(100 * mean / (sum([10, 40, 70, 12, 42, 72]) / 6))
    assert d["per_seed"] == {0: pytest.approx(-2), 1: pytest.approx(-5 / 3)}
    # unpaired pools of the same rows would not tell the arms apart: their lengths spread over 10 to 72
    assert paired_length(merged, arm("staged", {2: [1, 2, 3]}))["n"] == 0
    svm = staged_vs_merged(merged + staged)
    assert svm["paired"]["delta"] == pytest.approx(mean)
    assert svm["staged"]["response_tokens_ci95"] > abs(mean)
