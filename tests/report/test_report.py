"""Reports from fake run directories: complete, partial, and rendered in headless Chromium."""

import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from fakerun import make_run

from stagewise.report import write_report
from stagewise.report.build import paper_table

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def report(world_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "run"
    make_run(world_dir, run)
    # A benchmark scored beside the world splits (the harness's `<eval dir>/<benchmark>/items.jsonl`).
    for eval_dir, right in (
        (run / "eval" / "base", 1),
        (run / "staged" / "seed0" / "eval" / "visual", 3),
        (run / "merged" / "seed0" / "eval" / "merged", 2),
    ):
        (eval_dir / "mathvista").mkdir()
        (eval_dir / "mathvista" / "items.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "id": f"mv-{i}",
                        "response": "x",
                        "correct": i < right,
                        "response_tokens": 12,
                        "think_tokens": None,
                    }
                )
                + "\n"
                for i in range(4)
            )
        )
    return run, write_report(run)


def test_report_has_table_curves_lengths_shares_and_examples(report):
    run, path = report
    assert path == run / "report" / "report.html"
    page = path.read_text()
    assert "id='paper-table'" in page
    for fig in (
        "curves-staged-seed0",
        "curves-merged-seed0",
        "length-by-capability",
        "length-vs-accuracy",
        "perception-share",
    ):
        assert f"id='fig-{fig}'" in page, fig
        assert (run / "report" / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG"
    assert "src='figures/" not in page and page.count("data:image/png;base64,") >= 5 + 3  # figures + items
    md = (run / "report" / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model |")).split(" | ")
    staged = next(line for line in md.splitlines() if line.startswith("| staged |")).split(" | ")
    col = dict(zip(header, staged, strict=True))
    assert col["mathvista (%)"] == "75.0"  # 3 of 4
    assert float(col["visual-math avg (%)"]) == pytest.approx(
        (float(col["visual (%)"]) + 75.0) / 2, abs=0.051
    )
    assert "| base |" in md and "| staged |" in md and "| merged |" in md
    assert "(figures/length-vs-accuracy.png)" in md
    assert "Final staged model vs final merged model" in md
    # The oracle ran on the fly (no `stagewise diagnose` output in the run) and wrote into the report folder.
    assert (run / "report" / "diagnosis" / "staged-seed0-visual" / "summary.json").exists()
    assert not (run / "staged" / "seed0" / "eval" / "visual" / "diagnosis").exists()


def test_paper_table_rows_columns_and_differences_to_merged():
    def rows(variant, seed, accs):
        out = []
        for bench, (right, n) in accs.items():
            out += [
                {
                    "variant": variant,
                    "seed": seed,
                    "benchmark": bench,
                    "correct": i < right,
                    "response_tokens": 10 if variant == "staged" else 20,
                }
                for i in range(n)
            ]
        return out

    finals = (
        rows("staged", 0, {"perception": (3, 4), "visual": (1, 4)})
        + rows("staged", 1, {"perception": (1, 4), "visual": (1, 4)})
        + rows("merged", 0, {"perception": (2, 4), "visual": (0, 4)})
        + rows("base", None, {"perception": (0, 4), "visual": (0, 4)})
    )
    header, table = paper_table(finals)
    assert [r[0] for r in table] == ["base", "merged", "staged"]
    assert header[2:7] == [
        "perception (%)",
        "visual (%)",
        "perception avg (%)",
        "visual-math avg (%)",
        "overall (%)",
    ]
    staged = dict(zip(header, table[2], strict=True))
    assert staged["perception (%)"] == "50.0 ± 35.4" and staged["visual (%)"] == "25.0 ± 0.0"
    assert staged["overall (%)"] == "37.5 ± 17.7"  # seeds: (75 + 25) / 2 = 50 and (25 + 25) / 2 = 25
    assert staged["Δ overall vs merged"] == "+12.5" and staged["Δ trace vs merged (%)"] == "-50.0"


def test_partial_run_still_gets_a_report_that_says_what_is_missing(world_dir, tmp_path):
    run = tmp_path / "run"
    make_run(world_dir, run, {"staged": ["perception", "textual", "visual"]})
    (run / "staged" / "seed0" / "visual" / "manifest.json").unlink()  # killed mid-stage
    shutil.rmtree(run / "staged" / "seed0" / "eval" / "visual")
    shutil.rmtree(run / "eval" / "base")
    (run / "staged" / "seed0" / "textual" / "trainer_log.jsonl").unlink()
    log = run / "staged" / "seed0" / "perception" / "trainer_log.jsonl"
    log.write_text("{not json\n" + log.read_text())
    items = run / "staged" / "seed0" / "eval" / "perception" / "items.jsonl"
    items.write_text(items.read_text().replace('"response_tokens"', '"tokens"', 1))
    page = write_report(run).read_text()
    missing = re.search(r"<div class='missing' id='missing'>(.*?)</div>", page).group(1)
    assert "staged/seed0/visual: stage not finished" in missing
    assert "staged/seed0/eval/visual: not evaluated" in missing
    assert "eval/base: the base model was not evaluated" in missing
    assert "staged/seed0/perception: unreadable eval output: " in missing and "missing field" in missing
    assert "no trainer log for perception, textual" in page
    assert re.search(r"Unreadable trainer log: .*perception/trainer_log.jsonl:1: not valid JSON", page)
    assert "id='paper-table'" in page and "staged/seed0/textual" in page  # the last evaluated stage is final

    empty = tmp_path / "empty"
    empty.mkdir()
    page = write_report(empty).read_text()
    assert "nothing was trained" in page and "No evaluated model yet" in page
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        write_report(tmp_path / "absent")


def test_report_names_kinds_a_checkpoint_answers_with_one_letter(world_dir, tmp_path):
    run = tmp_path / "run"
    make_run(world_dir, run)
    items = run / "merged" / "seed0" / "eval" / "merged" / "items.jsonl"
    rows = [json.loads(line) for line in items.read_text().splitlines()]
    for r in rows:  # the merged model answers every perception question "A"
        if r["family"] == "perception":
            r["extracted"], r["correct"] = "A", r["answer"] == "A"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    golds: dict[str, Counter] = {}
    for r in rows:
        if r["family"] == "perception":
            golds.setdefault(r["kind"], Counter())[r["answer"]] += 1
    spread_kinds = [k for k, c in golds.items() if c.most_common(1)[0][1] / sum(c.values()) < 0.9]
    assert spread_kinds, "the test world should have a perception kind with mixed gold letters"

    page = write_report(run).read_text()
    md = (run / "report" / "report.md").read_text()
    assert (
        "id='fig-answer-collapse'" in page and (run / "report" / "figures" / "answer-collapse.png").exists()
    )
    para = next(line for line in md.splitlines() if line.startswith("Share of a question kind"))
    for kind in spread_kinds:
        assert f"merged/seed0/merged: perception/{kind}" in para
    assert not re.search(r"(staged/seed0/\w+|base): perception/", para)  # their wrong letters are spread
    row = next(line for line in md.splitlines() if line.startswith(f"| perception/{spread_kinds[0]} |"))
    assert "A 100" in row


def _chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    import numpy as np
    from PIL import Image

    _, path = report
    dom = _chromium("--dump-dom", path.as_uri()).stdout
    assert 'id="paper-table"' in dom and dom.count("<figure") >= 5
    assert len(re.findall(r"<tr>", dom)) > 10
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,3000", path.as_uri())
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 3000)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50  # not blank: text, tables and plots in many colours
    # Plot colours (matplotlib's blue and red bars/lines) made it onto the page.
    px = np.asarray(img.resize((320, 750))).astype(int)
    assert ((px[..., 2] > 150) & (px[..., 0] < 80)).sum() > 20
