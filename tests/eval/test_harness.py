"""The harness without a model: prediction-file checks, served models and the judge over a loopback endpoint,
and the smaller benchmarks' scorers on hand-made rows."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from stagewise.eval import harness
from stagewise.eval.backends import OpenAIBackend
from stagewise.eval.benchmarks import aokvqa, dynamath, get_benchmark, mmstar, pope, realworldqa
from stagewise.judge import Judge


def mmstar_rows(n: int = 4) -> list[dict]:
    return [
        {
            "id": str(i),
            "question": f"Q{i}? Options: A: x, B: y",
            "answer": "AB"[i % 2],
            "category": "c",
            "l2_category": f"l{i % 2}",
            "images": [],
        }
        for i in range(n)
    ]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prediction_files_with_missing_extra_or_wrong_fields_are_clear_errors(tmp_path):
    rows = mmstar_rows(4)
    good = [{"id": r["id"], "response": r["answer"]} for r in rows]
    m = harness.score(
        "mmstar", rows, write(tmp_path / "ok.jsonl", good), tmp_path / "o", harness.EvalSettings()
    )
    assert m["overall"]["accuracy"] == 100.0
    with pytest.raises(harness.PredictionError, match=r"1 missing ids: 3.*1 ids not in the benchmark: 9"):
        harness.score(
            "mmstar",
            rows,
            write(tmp_path / "p.jsonl", good[:3] + [{"id": "9", "response": "A"}]),
            tmp_path / "o",
            harness.EvalSettings(),
        )
    bad = good[:2] + [{"id": "2", "answer": "A"}, {"id": "3", "response": ["A"]}]
    with pytest.raises(harness.PredictionError, match=r"field 'response'.*2 \(missing\), 3 \(list\)"):
        harness.score(
            "mmstar", rows, write(tmp_path / "q.jsonl", bad), tmp_path / "o", harness.EvalSettings()
        )
    with pytest.raises(harness.PredictionError, match=r"r.jsonl: line 2: missing id field 'id'"):
        harness.score(
            "mmstar",
            rows,
            write(tmp_path / "r.jsonl", [good[0], {"response": "A"}]),
            tmp_path / "o",
            harness.EvalSettings(),
        )
    with pytest.raises(ValueError, match="unknown mode 'nope'"):
        harness.score(
            "mmstar", rows, tmp_path / "ok.jsonl", tmp_path / "o", harness.EvalSettings(mode="nope")
        )


def test_limit_ignores_predictions_beyond_it(tmp_path):
    from stagewise.cli import main

    data = write(
        tmp_path / "mmstar.jsonl", [{k: v for k, v in r.items() if k != "images"} for r in mmstar_rows()]
    )
    preds = write(tmp_path / "preds.jsonl", [{"id": str(i), "response": "A"} for i in range(4)])
    assert (
        main(
            [
                "eval",
                "score",
                str(preds),
                "--bench",
                "mmstar",
                "--data",
                str(data),
                "--limit",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["overall"]["total"] == 2


def test_the_cli_reports_a_bad_prediction_file(tmp_path, caplog):
    from stagewise.cli import main

    data = write(
        tmp_path / "mmstar.jsonl", [{k: v for k, v in r.items() if k != "images"} for r in mmstar_rows()]
    )
    preds = write(tmp_path / "preds.jsonl", [{"id": "0", "response": "A"}])
    assert (
        main(
            [
                "eval",
                "score",
                str(preds),
                "--bench",
                "mmstar",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "3 missing ids: 1, 2, 3" in caplog.text


# ------------------------------------------------------------------------------------ loopback endpoint
class Scripted(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions that answers from a script keyed by the last user text."""

    replies: dict = {}
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Scripted.seen.append(body)
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)
        reply = next((v for k, v in Scripted.replies.items() if k in text), "no idea")
        out = json.dumps(
            {
                "choices": [{"message": {"content": reply}, "finish_reason": "stop"}],
                "usage": {"completion_tokens": len(reply.split())},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    Scripted.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_served_model_over_an_openai_compatible_endpoint(endpoint, tmp_path):
    Scripted.replies = {"Q0": "<think>It is x.</think> \\boxed{A}", "Q1": "B", "Q2": "\\boxed{B}", "Q3": "C"}
    rows = mmstar_rows(4)
    rows[0]["images"] = [Image.new("RGB", (8, 8), "red")]
    backend = OpenAIBackend(endpoint, "served-model", concurrency=2)
    settings = harness.EvalSettings(system_prompt="Be brief.", batch_size=2, mode="chain")
    m = harness.run("mmstar", rows, backend, tmp_path / "o", settings)
    items = {i["id"]: i for i in map(json.loads, (tmp_path / "o" / "items.jsonl").read_text().splitlines())}
    assert [items[str(i)]["correct"] for i in range(4)] == [True, True, False, False]
    assert items["0"]["extracted"] == "A" and items["0"]["response_tokens"] == 4
    assert m["overall"]["correct"] == 2 and m["run"]["backend"] == "openai"
    first = next(b for b in Scripted.seen if "Q0" in json.dumps(b))
    assert first["model"] == "served-model" and first["temperature"] == 0.0
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert first["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    # A rerun finds everything done and asks the endpoint nothing.
    n = len(Scripted.seen)
    assert harness.run("mmstar", rows, backend, tmp_path / "o", settings)["overall"]["correct"] == 2
    assert len(Scripted.seen) == n


def test_llm_judge_is_used_and_recorded(endpoint, tmp_path):
    Scripted.replies = {
        "Reference answer: The circle is larger": "incorrect",
        "Reference answer: yes": "Correct.",
    }
    rows = [
        {
            "id": "a",
            "category": "VD",
            "subcategory": "illusion",
            "set_id": "0",
            "figure_id": "1",
            "question_id": "0",
            "question": "Same size?",
            "answer": "0",
            "details": "The circle is larger",
            "visual_input": "1",
            "images": [],
        },
        {
            "id": "b",
            "category": "VS",
            "subcategory": "chart",
            "set_id": "0",
            "figure_id": "0",
            "question_id": "0",
            "question": "Is it?",
            "answer": "1",
            "details": "yes",
            "visual_input": "0",
            "images": [],
        },
    ]
    preds = write(tmp_path / "p.jsonl", [{"id": "a", "response": "No."}, {"id": "b", "response": "Hmm"}])
    judge = Judge(endpoint, "judge-model")
    m = harness.score("hallusionbench", rows, preds, tmp_path / "o", harness.EvalSettings(), judge=judge)
    # The rule would say "a" is right ("No" = gold 0); the judge, reading the reference, says it is not.
    assert m["aAcc"]["correct"] == 1 and m["run"]["judge"]["model"] == "judge-model"
    assert "judge_hallusionbench" in m["run"]["judge"]["prompts"] and len(Scripted.seen) == 2
    assert Scripted.seen[0]["model"] == "judge-model"
    # A judged scoring run resumes: rerun, nothing is asked again.
    again = harness.score("hallusionbench", rows, preds, tmp_path / "o", harness.EvalSettings(), judge=judge)
    assert again["aAcc"] == m["aAcc"] and len(Scripted.seen) == 2
    rule = harness.score("hallusionbench", rows, preds, tmp_path / "r", harness.EvalSettings())
    assert rule["aAcc"]["correct"] == 2 and rule["run"]["judge"] is None


def test_vllm_backend_when_installed():
    pytest.importorskip("vllm")
    from stagewise.eval.backends import VLLMBackend

    assert VLLMBackend.name == "vllm"


# ----------------------------------------------------------------------------------- the smaller scorers
def scored(bench, rows, responses, mode="official", extract=None):
    s = harness.EvalSettings(mode=mode, extract=extract)
    return [harness.score_response(bench, r, x, s) for r, x in zip(rows, responses, strict=True)]


def test_mmstar_first_character_rule_and_vlmevalkit_mode():
    rows = mmstar_rows(2)
    raw = ["a. x", "The answer is B", "(B)", "Option B", "I think B"]
    official = [r["correct"] for r in scored(mmstar, [rows[0]] + [rows[1]] * 4, raw, extract="raw")]
    assert official == [True, True, True, True, False]  # the official rule reads "I" from "I think B"
    assert [r["correct"] for r in scored(mmstar, rows, ["A. x", "I think \\boxed{B}"], mode="chain")] == [
        True,
        True,
    ]
    # official mode reads the raw response as the official code does: "I think ..." starts with I
    assert [r["correct"] for r in scored(mmstar, rows, ["A. x", "I think \\boxed{B}"])] == [True, False]
    vlmevalkit = scored(mmstar, rows, ["A", "I think B"], "vlmevalkit", "raw")
    assert [r["correct"] for r in vlmevalkit] == [True, True]


def test_pope_rule_and_f1():
    rows = [
        {"id": str(i), "question": "Is there a dog?", "answer": a, "category": c, "images": []}
        for i, (a, c) in enumerate(
            [("yes", "random"), ("yes", "random"), ("no", "random"), ("no", "popular")]
        )
    ]
    res = scored(pope, rows, ["Yes, there is.", "There is not a dog.", "No", "Yes. No doubt."])
    m = pope.metrics(rows, res)
    # tp=1 fn=1 tn=1 fp=1 -> precision 50, recall 50, F1 50, accuracy 50, yes-ratio 50
    assert m["overall"]["accuracy"] == m["overall"]["f1"] == m["overall"]["yes_ratio"] == 50.0
    assert m["categories"]["popular"]["fp"] == 1 and m["categories"]["random"]["accuracy"] == pytest.approx(
        200 / 3
    )


def test_aokvqa_letter_or_choice_text():
    rows = [
        {
            "id": "q",
            "question": "What?",
            "choices": ["cat", "dog", "bird", "fish"],
            "answer": "B",
            "images": [],
        }
    ]
    assert "B. dog" in aokvqa.prompt(rows[0]) and "text of the correct option" in aokvqa.prompt(rows[0])
    letter = scored(aokvqa, rows * 3, ["B", "dog", "\\boxed{C}"], mode="letter")
    assert [r["correct"] for r in letter] == [True, True, False]
    # official (allenai/aokvqa eval_aokvqa): the raw response must be the correct choice's text, exactly
    assert [r["correct"] for r in scored(aokvqa, rows * 3, ["B", "dog", "Dog"])] == [False, True, False]


def test_dynamath_average_and_worst_case():
    cases = [
        ("1", "1", "2.5", "float"),
        ("1", "2", "3.5", "float"),
        ("2", "1", "B", "multiple choice"),
        ("2", "2", "C", "multiple choice"),
    ]
    rows = [
        {
            "id": f"{q}@{v}",
            "qid": q,
            "question": "?",
            "answer": a,
            "answer_type": t,
            "subject": "s",
            "level": "l",
            "images": [],
        }
        for q, v, a, t in cases
    ]
    responses = [
        '{"solution": "...", "short answer": "2.5004"}',
        '{"solution": "x", "short answer": "3.6"}',
        '{"solution": "x", "short answer": "B"}',
        "\\boxed{C}",
    ]
    res = scored(dynamath, rows, responses, mode="boxed")
    m = dynamath.metrics(rows, res)
    assert [r["correct"] for r in res] == [True, False, True, True]
    assert m["average"]["correct"] == 3 and m["worst_case"] == {"accuracy": 50.0, "correct": 1, "total": 2}
    assert "short answer" in dynamath.prompt(rows[0]) and "floating-point" in dynamath.prompt(rows[0])
    assert dynamath.score("2π", {**rows[0], "answer": "6.283"})["correct"]


def test_realworldqa_letters_and_short_answers():
    rows = [
        {"id": "1", "question": "?", "answer": "B", "images": []},
        {"id": "2", "question": "?", "answer": "3", "images": []},
        {"id": "3", "question": "?", "answer": "Left", "images": []},
    ]
    assert [r["correct"] for r in scored(realworldqa, rows, ["B.", "3.0", "left."])] == [True, True, True]
    assert not any(r["correct"] for r in scored(realworldqa, rows, ["C", "4", "right"]))


def test_unknown_benchmark_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown benchmark 'nope'.*mathvista"):
        get_benchmark("nope")


def test_bad_annotations_name_the_file_row_and_field(tmp_path):
    from stagewise.data.sources import DataError
    from stagewise.eval.benchmarks import load_benchmark

    rows = [{k: v for k, v in r.items() if k != "images"} for r in mmstar_rows(3)]
    del rows[2]["answer"]
    with pytest.raises(DataError, match=r"bad.jsonl: row 2: missing field 'answer'"):
        load_benchmark("mmstar", str(write(tmp_path / "bad.jsonl", rows)))
    rows = [
        {
            "ID": "2steps_1",
            "key": "2steps_x",
            "question": "q",
            "option": "A. 1",
            "answer": "A",
            "knowledge concept": "c",
        }
    ]
    (tmp_path / "wm.json").write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"wm.json: row 0: field 'key' is '2steps_x'"):
        load_benchmark("wemath", str(tmp_path / "wm.json"))
    with pytest.raises(DataError, match="file not found"):
        load_benchmark("mmstar", str(tmp_path / "nope.jsonl"))


def test_wemath_vlmevalkit_mode_matches_option_text_then_asks_the_judge(endpoint, tmp_path):
    from stagewise.eval.benchmarks import wemath

    row = {
        "id": "2steps_1:2steps_1",
        "problem": "2steps_1",
        "key": "2steps_1",
        "steps": 2,
        "part": "1",
        "question": "OA = ( ) m",
        "option": "A. 300, 400;B. 3000, 4000; C. No correct answer",
        "answer": "B",
        "concept": "c",
        "domain": None,
        "images": [],
    }
    vlm = harness.EvalSettings(mode="vlmevalkit")
    assert harness.score_response(wemath, row, "It is 3000, 4000 m.", vlm)["correct"]
    assert not harness.score_response(wemath, row, "It is 3000, 4000 m.", harness.EvalSettings())["correct"]
    Scripted.replies = {"the second one": "B"}
    judge = Judge(endpoint, "judge-model")
    out = harness.score_response(wemath, row, "the second one", vlm, judge)
    assert out["correct"] and out["judge_reply"] == "B" and len(Scripted.seen) == 1
    # The official mode never asks the judge: WeMath's own scorer is a rule.
    assert not harness.score_response(wemath, row, "the second one", harness.EvalSettings(), judge)["correct"]
    assert len(Scripted.seen) == 1


def test_cli_runs_a_served_model(endpoint, tmp_path):
    from stagewise.cli import main

    Scripted.replies = {"Q0": "A", "Q1": "A"}
    data = write(
        tmp_path / "mmstar.jsonl", [{k: v for k, v in r.items() if k != "images"} for r in mmstar_rows(2)]
    )
    assert (
        main(
            [
                "eval",
                "run",
                "served",
                "--backend",
                "openai",
                "--base-url",
                endpoint,
                "--bench",
                "mmstar",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["overall"]["correct"] == 1 and m["run"]["backend"] == "openai"


def test_mmstar_tsv_with_option_columns_and_base64_images(tmp_path):
    import base64
    import csv
    import io

    from stagewise.eval.benchmarks import load_benchmark

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "blue").save(buf, format="JPEG")
    with open(tmp_path / "MMStar.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["index", "question", "A", "B", "answer", "category", "l2_category", "image"])
        w.writerow(
            [7, "What color?", "red", "blue", "B", "c", "l", base64.b64encode(buf.getvalue()).decode()]
        )
    (row,) = load_benchmark("mmstar", str(tmp_path / "MMStar.tsv"))
    assert row["id"] == "7" and row["question"].endswith("Options: A: red, B: blue")
    assert row["images"][0].size == (40, 40)


def test_repeated_item_ids_are_an_error(tmp_path):
    from stagewise.data.sources import DataError

    rows = mmstar_rows(2)
    rows[1]["id"] = "0"
    with pytest.raises(DataError, match="repeated: 0"):
        harness.score(
            "mmstar",
            rows,
            write(tmp_path / "p.jsonl", [{"id": "0", "response": "A"}]),
            tmp_path / "o",
            harness.EvalSettings(),
        )
