"""`stagewise diagnose` and `stagewise report` from the command line."""

import json

from fakerun import make_run

from stagewise.cli import main


def test_diagnose_and_report_commands(world_dir, tmp_path, capsys):
    run = tmp_path / "run"
    make_run(world_dir, run, {"staged": ["perception", "visual"]})
    assert main(["diagnose", str(run)]) == 0
    summary = json.loads(
        (run / "staged" / "seed0" / "eval" / "visual" / "diagnosis" / "summary.json").read_text()
    )
    assert summary["methods"] == ["oracle"] and summary["overall"]["oracle"]["n"] > 0
    assert (run / "eval" / "base" / "diagnosis" / "diagnosis.jsonl").exists()
    assert not (run / "staged" / "seed0" / "eval" / "perception" / "diagnosis").exists()  # not a final model

    items = run / "eval" / "base" / "items.jsonl"
    assert main(["diagnose", str(items)]) == 2  # an items file needs --data
    assert main(["diagnose", str(items), "--data", str(run / "data"), "--out", str(tmp_path / "d")]) == 0
    base = json.loads((run / "eval" / "base" / "diagnosis" / "summary.json").read_text())
    again = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert again["overall"] == base["overall"]
    wrong = sum(not json.loads(line)["correct"] for line in items.read_text().splitlines())
    assert again["wrong"] == wrong

    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("report/report.html")
    page = (run / "report" / "report.html").read_text()
    assert "staged/seed0/visual" in page and "Agreement" not in page  # only the oracle: nothing to compare
