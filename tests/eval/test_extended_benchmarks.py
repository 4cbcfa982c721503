"""The seven benchmarks of the paper's extended suite: scorers against the official code's own outputs on
messy responses (tests/eval/official/expected.json, made by make_expected.py), loaders on benchmark-shaped
local data with generated images, suites and the paper-layout table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stagewise.cli import main
from stagewise.data.sources import DataError
from stagewise.eval import harness, suites
from stagewise.eval.benchmarks import blink, chartqa, load_benchmark, textvqa, visonlyqa
from stagewise.eval.benchmarks.common import read_records
from stagewise.eval.benchmarks.mcq_letter import cambrian_letter

EXPECTED = json.loads((Path(__file__).parent / "official" / "expected.json").read_text())


# ------------------------------------------------------------------------- scorers vs the official code
@pytest.mark.parametrize(("target", "prediction", "official"), EXPECTED["chartqa"])
def test_chartqa_relaxed_accuracy_is_the_official(target, prediction, official):
    row = {"answers": [target]}
    assert chartqa.score(chartqa.extract(prediction, row), row)["correct"] is official


def test_textvqa_normalization_and_vqa_score_are_the_official():
    for text, norm in EXPECTED["textvqa_normalized"]:
        assert textvqa.normalize(text) == norm, text
    for pred, gold, official in EXPECTED["textvqa"]:
        assert textvqa.score(pred, {"answers": gold})["vqa_score"] == pytest.approx(official), (pred, gold)
    assert len({round(x[2], 4) for x in EXPECTED["textvqa"]}) > 3  # soft scores, not only 0 and 1


@pytest.mark.parametrize(("response", "n", "official"), EXPECTED["blink"])
def test_blink_rule_is_the_official(response, n, official):
    row = {"choices": [f"c{i}" for i in range(n)]}
    assert blink.extract(response, row) == official


@pytest.mark.parametrize(("response", "options", "qtype", "official"), EXPECTED["visonlyqa"])
def test_visonlyqa_rule_is_the_official(response, options, qtype, official):
    assert visonlyqa.extract(response, {"options": options, "question_type": qtype}) == official


@pytest.mark.parametrize(
    ("response", "options", "qtype", "question", "reply", "gold", "sent", "final", "accuracy"),
    EXPECTED["visonlyqa_judged"],
)
def test_visonlyqa_judge_asks_and_reads_as_the_official(
    response, options, qtype, question, reply, gold, sent, final, accuracy
):
    """Where the official script asks GPT-4o, the judge is asked the same prompt, and its reply is read the
    same way (multiple-answer rows included: the official code has no rule for them)."""
    from stagewise.data.prompts import load_prompt

    asked = []

    def ask(template, **fields):
        asked.append(load_prompt(template).format(**fields))
        return reply

    row = {"options": options, "question_type": qtype, "prompt": question, "answer": gold}
    out = visonlyqa.judge(response, row, ask)
    assert asked == ([sent] if sent is not None else [])
    assert out["extracted"] == final
    assert visonlyqa.score(out["extracted"], row)["correct"] is (accuracy == 1.0)


def test_visonlyqa_judge_scores_multiple_answer_rows_through_the_harness():
    from stagewise.eval.benchmarks import visonlyqa_real

    class Judge:
        def ask(self, template, **fields):
            return "a, c"

    row = {
        "id": "m1",
        "subset": "chemistry__shape_multi",
        "question_type": "multiple_answers",
        "options": list("abcd"),
        "answer": "a,c",
        "prompt": "Which are rings?",
    }
    settings = harness.EvalSettings()
    assert harness.score_response(visonlyqa_real, row, "(a) and (c)", settings, Judge())["correct"]
    assert not harness.score_response(visonlyqa_real, row, "(a) and (c)", settings)["correct"]


def test_visonlyqa_without_a_judge_counts_unread_multiple_answer_rows():
    rows = [
        {
            "subset": "chemistry__shape_multi",
            "question_type": "multiple_answers",
            "options": list("abcd"),
            "answer": "a,c",
        },
        {
            "subset": "geometry__triangle",
            "question_type": "single_answer",
            "options": ["True", "False"],
            "answer": "True",
        },
    ]
    results = [
        {"extracted": visonlyqa.extract(r, row), "correct": False}
        for r, row in zip(("a,c", "True"), rows, strict=True)
    ]
    results[1]["correct"] = visonlyqa.score(results[1]["extracted"], rows[1])["correct"]
    m = visonlyqa.metrics(rows, results)
    assert m["unread_multiple_answers"] == 1 and m["overall"]["correct"] == 1


@pytest.mark.parametrize(("response", "official"), EXPECTED["cambrian_letter"])
def test_cvbench_and_vstar_letter_is_the_official(response, official):
    assert cambrian_letter(response) == official


def test_official_default_reads_the_raw_response():
    row = {"answers": ["42"], "split": "human"}
    assert not harness.score_response(chartqa, row, "<think>x</think> \\boxed{42}", harness.EvalSettings())[
        "correct"
    ]
    assert harness.score_response(
        chartqa, row, "<think>x</think> \\boxed{42}", harness.EvalSettings(mode="chain")
    )["correct"]


# ------------------------------------------------------------------------------ benchmark-shaped data
def _png(make_image, n: int) -> bytes:
    buf = io.BytesIO()
    make_image(n).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def extended_data(tmp_path, make_image):
    """One small local copy per benchmark, in each one's published layout, images generated."""
    (tmp_path / "img").mkdir()
    for i in range(1, 5):
        make_image(i).save(tmp_path / "img" / f"{i}.png")
    paths = {}
    table = pa.Table.from_pylist(
        [
            {
                "image": {"bytes": _png(make_image, i), "path": None},
                "query": "How many circles?",
                "label": [str(i)],
                "human_or_machine": i % 2,
            }
            for i in range(1, 5)
        ]
    )
    pq.write_table(table, tmp_path / "chartqa.parquet")
    paths["chartqa"] = tmp_path / "chartqa.parquet"
    rows = [
        {
            "question_id": i,
            "question": "What number?",
            "answers": [str(i)] * 7 + ["x"] * 3,
            "image": f"img/{i}.png",
        }
        for i in range(1, 5)
    ]
    (tmp_path / "textvqa.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    paths["textvqa"] = tmp_path / "textvqa.jsonl"
    rows = [
        {
            "idx": f"val_{task}_{i}",
            "prompt": "Which image has more circles?\n(A) first\n(B) second",
            "question": "Which image has more circles?",
            "choices": ["first", "second"],
            "answer": "(A)",
            "image_1": f"img/{i + 1}.png",
            "image_2": f"img/{i}.png",
        }
        for task in ("Counting", "Jigsaw")
        for i in (1, 2)
    ]
    (tmp_path / "blink.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    paths["blink"] = tmp_path / "blink.jsonl"
    vo = tmp_path / "visonlyqa"
    vo.mkdir()
    for split, opts, gold in (
        ("geometry__triangle", ["True", "False"], "True"),
        ("charts__extraction", list("abcde"), "c"),
    ):
        rows = [
            {
                "id": f"{split}-{i}",
                "prompt_no_reasoning": "Is it so?",
                "answer": gold,
                "response_options": opts,
                "question_type": "single_answer",
                "image_path": f"../img/{i}.png",
            }
            for i in (1, 2)
        ]
        (vo / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    paths["visonlyqa_real"] = vo
    rows = [
        {
            "idx": i,
            "type": "2D",
            "task": "Count",
            "source": src,
            "prompt": "How many?\n(A) 1\n(B) 2",
            "answer": "(B)",
            "image": f"img/{i}.png",
        }
        for i, src in ((1, "ADE20K"), (2, "COCO"), (3, "COCO"))
    ]
    rows.append(
        {
            "idx": 4,
            "type": "3D",
            "task": "Depth",
            "source": "Omni3D",
            "prompt": "p",
            "answer": "(A)",
            "image": "img/4.png",
        }
    )
    (tmp_path / "cvbench.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    paths["cvbench_2d"] = tmp_path / "cvbench.jsonl"
    vs = tmp_path / "vstar"
    vs.mkdir()
    rows = [
        {
            "question_id": i,
            "text": "What colour?\n(A) red\n(B) blue\nAnswer with the option's letter.",
            "label": "A",
            "category": cat,
            "image": f"../img/{i}.png",
        }
        for i, cat in ((1, "direct_attributes"), (2, "relative_position"))
    ]
    (vs / "test_questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    paths["vstar"] = vs
    return paths


class Scripted:
    """A backend answering from a function of the prompt; counts requests and images."""

    name = "scripted"

    def __init__(self, answer):
        self.answer, self.requests = answer, []

    def generate(self, requests, max_new_tokens):
        self.requests += requests
        return [{"response": self.answer(r), "response_tokens": 3, "truncated": False} for r in requests]

    def count_tokens(self, text):
        return len(text.split())


EXPECTED_METRICS = {  # what each scripted answer set must score
    "chartqa": ("relaxed_accuracy", 100.0),
    "textvqa": ("vqa_accuracy", 100.0),
    "blink": ("average", 100.0),
    "visonlyqa_real": ("overall", 50.0),
    "cvbench_2d": ("accuracy_2d", 100.0),
    "vstar": ("overall", 50.0),
}


def _answers(name: str):
    if name in ("chartqa", "textvqa"):  # the circle count, from the image
        return lambda r: str(_count(r["images"][0]))
    if name == "blink":
        return lambda r: "(A)"
    if name == "visonlyqa_real":
        return lambda r: "True"  # right on triangles, no answer on charts
    if name == "cvbench_2d":
        return lambda r: "The answer is (B)."
    return lambda r: "A"  # vstar: gold A on both; the second row's label is checked below


def _count(image) -> int:
    px = image.convert("RGB").load()
    return sum(1 for x in range(0, 112) if px[x, 50] == (255, 0, 0) and px[x - 1, 50] != (255, 0, 0))


@pytest.mark.parametrize("name", list(EXPECTED_METRICS))
def test_end_to_end_on_local_benchmark_shaped_data(name, extended_data, tmp_path):
    rows = load_benchmark(name, str(extended_data[name]))
    if name == "vstar":
        rows[1]["answer"] = "B"
    backend = Scripted(_answers(name))
    metrics = harness.run(name, rows, backend, tmp_path / name, harness.EvalSettings(batch_size=2))
    key, value = EXPECTED_METRICS[name]
    assert metrics[key]["accuracy"] == pytest.approx(value), metrics
    assert suites.headline(name, metrics) == pytest.approx(value)
    items = [json.loads(x) for x in (tmp_path / name / "items.jsonl").read_text().splitlines()]
    assert len(items) == len(rows) and all("correct" in i for i in items)
    if name == "blink":  # two images per item, the disclaimer for Jigsaw only, the task mean
        assert all(len(r["images"]) == 2 for r in backend.requests)
        assert sum(r["text"].startswith("Disclaimer") for r in backend.requests) == 2
        assert set(metrics["tasks"]) == {"Counting", "Jigsaw"}
    if name == "cvbench_2d":  # 3D rows skipped; 2D = mean of ADE20K and COCO
        assert len(rows) == 3 and set(metrics["sources"]) == {"ADE20K", "COCO"}
    if name == "chartqa":
        assert metrics["human"]["total"] == 2 and metrics["augmented"]["total"] == 2


def test_cvbench_2d_is_the_mean_of_its_two_sources():
    rows = [{"source": s, "task": "Count"} for s in ("ADE20K", "COCO", "COCO", "COCO")]
    results = [{"correct": c} for c in (True, False, False, True)]
    from stagewise.eval.benchmarks import cvbench_2d

    m = cvbench_2d.metrics(rows, results)
    assert m["accuracy_2d"]["accuracy"] == pytest.approx((100 + 100 / 3) / 2)
    assert m["pooled"]["accuracy"] == 50.0


def test_bad_rows_name_file_row_and_field(extended_data, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "question": "q", "answers": ["a"] * 9}))
    with pytest.raises(DataError, match=r"bad.jsonl: row 0: field 'answers' must hold the 10"):
        load_benchmark("textvqa", str(bad))
    bad.write_text(json.dumps({"idx": "val_Counting_1", "prompt": "p", "choices": ["a"], "answer": "hidden"}))
    with pytest.raises(DataError, match=r"bad.jsonl: row 0: field 'answer' is 'hidden'"):
        load_benchmark("blink", str(bad))
    bad.write_text(json.dumps({"idx": 1, "type": "2D", "task": "Count", "prompt": "p", "answer": "(A)"}))
    with pytest.raises(DataError, match=r"bad.jsonl: row 0: missing field 'source'"):
        load_benchmark("cvbench_2d", str(bad))
    with pytest.raises(ValueError, match="unknown task"):
        load_benchmark("blink", str(extended_data["blink"]), subset="Nope")


def test_limit_reads_only_n_rows(extended_data, monkeypatch):
    assert len(read_records(extended_data["chartqa"], limit=2)) == 2
    assert len(read_records(extended_data["textvqa"], limit=3)) == 3
    assert len(load_benchmark("blink", str(extended_data["blink"]), limit=1)) == 2  # per task
    import datasets

    seen = {}

    class Stream:
        def decode(self, enable):
            seen["decode"] = enable
            return self

        def __iter__(self):
            seen["read"] = 0
            for i in range(10**9):
                seen["read"] += 1
                yield {"i": i}

    def fake_load(repo, config=None, split=None, streaming=False):
        seen.update(repo=repo, config=config, split=split, streaming=streaming)
        return Stream()

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert read_records("org/some-bench", split="test", limit=5, config="2D") == [{"i": i} for i in range(5)]
    assert seen == {
        "repo": "org/some-bench",
        "config": "2D",
        "split": "test",
        "streaming": True,
        "decode": False,
        "read": 5,
    }


# --------------------------------------------------------------------------------------------- suites
def test_suites_aliases_and_unknown_names():
    assert [e.label for e in suites.resolve("paper-main")] == [
        "mathvista",
        "mathvision",
        "mathverse-vision_intensive",
        "wemath",
        "aokvqa",
        "realworldqa",
        "mmstar",
        "pope",
    ]
    assert len(suites.resolve("paper-extended")) == 10
    assert len(suites.resolve("paper-main,paper-extended,MathVista_MINI")) == 18
    assert suites.resolve("MathVerse_MINI_Vision_Only") == [suites.MATHVERSE_VO]
    assert suites.resolve("ChartQA_TEST,TextVQA_VAL")[1].name == "textvqa"
    with pytest.raises(ValueError, match="unknown benchmark or suite 'mathvistaa'; known: .*paper-extended"):
        suites.resolve("mathvista,mathvistaa")


def test_headlines_are_the_numbers_vlmevalkit_reports():
    """The paper scores with VLMEvalKit; each headline is that dataset's primary metric there."""
    from stagewise.eval.benchmarks import hallusionbench, pope

    rows = [
        {
            "category": "VD",
            "subcategory": "s",
            "set_id": "0",
            "figure_id": f,
            "question_id": q,
            "visual_input": "1",
        }
        for f, q in (("0", "0"), ("0", "1"), ("1", "0"), ("1", "1"))
    ]
    m = hallusionbench.metrics(rows, [{"correct": c} for c in (True, True, True, False)])
    # aAcc 75, fAcc 50 (one figure all right), qAcc 50 (question 0 right on both figures)
    assert suites.headline("hallusionbench", m) == pytest.approx((75 + 50 + 50) / 3)
    prows = [{"answer": a, "category": "random"} for a in ("yes", "yes", "no", "no")]
    m = pope.metrics(prows, [{"predicted": p} for p in ("yes", "no", "no", "no")])
    assert m["overall"]["accuracy"] == 75 and suites.headline("pope", m) == pytest.approx(200 / 3)  # F1
    brows = [{"task": t} for t in ("Counting", "Counting", "Counting", "Jigsaw")]
    m = blink.metrics(brows, [{"correct": c} for c in (True, True, True, False)])
    assert m["average"]["accuracy"] == 50 and suites.headline("blink", m) == 75  # pooled, not the task mean
    assert (
        suites.headline("dynamath", {"average": {"accuracy": 40.0}, "worst_case": {"accuracy": 10.0}}) == 40
    )


def test_suite_table_has_the_paper_layout():
    scores = {e.label: 50.0 for e in suites.SUITES["paper-main"]} | {"mathvista": 70.0}
    averages = suites.suite_scores(scores)
    assert averages["Visual-Math AVG"] == pytest.approx(55.0) and averages["Perception AVG"] == 50.0
    assert averages["Overall"] == pytest.approx(52.5) and averages["Extended AVG"] is None
    header, rows = suites.suite_table({"base": scores, "staged": {**scores, "chartqa": 10.0}})
    assert header[5] == "Visual-Math AVG" and header[10:12] == ["Perception AVG", "Overall"]
    assert header[-2:] == ["chartqa", "Extended AVG"] and rows[0][-2:] == ["n/a", "n/a"]


def test_cli_runs_several_benchmarks_into_one_suite_table(tiny_model_dir, extended_data, tmp_path):
    out = tmp_path / "suite"
    args = [
        "eval",
        "run",
        str(tiny_model_dir),
        "--bench",
        "cv_bench_2d,VStarBench",
        "--out",
        str(out),
        "--max-new-tokens",
        "3",
        "--batch-size",
        "4",
    ]
    assert main(args + ["--data", str(extended_data["vstar"])]) == 2  # --data names one benchmark
    assert main(["eval", "run", str(tiny_model_dir), "--bench", "nope", "--out", str(out)]) == 2
    for name, label in (("cvbench_2d", "cvbench_2d"), ("vstar", "vstar")):
        assert (
            main(
                [
                    "eval",
                    "run",
                    str(tiny_model_dir),
                    "--bench",
                    name,
                    "--data",
                    str(extended_data[name]),
                    "--out",
                    str(out / label),
                    "--max-new-tokens",
                    "3",
                ]
            )
            == 0
        )
    assert main(args) == 0  # both finished: the suite reuses their metrics and writes the table
    table = json.loads((out / "suite.json").read_text())
    (model,) = table
    assert set(table[model]["benchmarks"]) == {"cvbench_2d", "vstar"}
    assert "Extended AVG" in (out / "suite.md").read_text()
    assert main(["eval", "list"]) == 0
