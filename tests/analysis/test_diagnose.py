"""Diagnosis end to end on a fake run whose errors are known: the oracle finds them, a judge served on a real
loopback HTTP server (scripted verdicts, one failed request, one non-JSON reply) is scored against the oracle,
every verdict is cached and a rerun asks nothing twice; the caption probe runs the tiny model."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakerun import make_run

from stagewise.analysis.diagnose import agreement, diagnose, load_data
from stagewise.judge import JudgeConfig, parse_verdict


class ScriptedJudge:
    """An OpenAI-compatible /v1/chat/completions server whose reply depends on the response quoted in the
    prompt: `script` maps a response text to the reply content."""

    def __init__(self, script: dict[str, str], fail_first: str | None = None):
        self.script, self.fail_first, self.requests = script, fail_first, []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][0]["content"]
                judge.requests.append(body)
                if judge.fail_first and judge.fail_first in prompt:
                    judge.fail_first = None
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = next((r for resp, r in judge.script.items() if resp in prompt), "no idea")
                out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake(world_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("diag") / "run"
    fates = make_run(world_dir, run, {"staged": ["perception", "visual"]})
    return run, fates, load_data(run / "data")


def test_agreement_precision_recall_by_hand():
    rows = [
        {"oracle": {"label": t}, "judge": {"label": m}}
        for t, m in [
            ("perception", "perception"),
            ("perception", "perception"),
            ("perception", "reasoning"),
            ("reasoning", "perception"),
            ("reasoning", "reasoning"),
            ("unknown", "perception"),
        ]
    ]
    a = agreement(rows, "judge")
    assert (a["tp"], a["fp"], a["fn"], a["tn"], a["n"]) == (2, 1, 1, 1, 5)
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == pytest.approx(2 / 3)
    assert a["agreement"] == pytest.approx(3 / 5)


def test_parse_verdict_accepts_json_or_a_plain_word():
    assert parse_verdict('Sure. {"first_error": "Perception", "evidence": "said 3"}') == (
        "perception",
        "said 3",
    )
    assert parse_verdict("The first error is one of reasoning.")[0] == "reasoning"
    assert parse_verdict("cannot tell")[0] == "unknown"


def test_oracle_and_loopback_judge_against_known_causes(fake, tmp_path):
    run, fates, data = fake
    label = "staged/seed0/visual"
    items_path = run / "staged" / "seed0" / "eval" / "visual" / "items.jsonl"
    items = [json.loads(line) for line in items_path.read_text().splitlines()]
    wrong_img = [it for it in items if not it["correct"] and data[it["id"]]["images"]]
    truth = {it["id"]: fates[label][it["id"]] for it in wrong_img}
    perception = [i for i, f in truth.items() if f == "perception"]
    reasoning = [i for i, f in truth.items() if f == "reasoning"]
    assert len(perception) >= 3 and len(reasoning) >= 3
    response = {it["id"]: it["response"] for it in wrong_img}
    assert len(set(response.values())) == len(response)  # the judge script keys on the response text

    # The judge is right except on one item of each kind; one reply is plain text, one request fails once.
    script = {}
    for i, fate in truth.items():
        said = (
            {"perception": "reasoning", "reasoning": "perception"}[fate]
            if i in (perception[0], reasoning[0])
            else fate
        )
        script[response[i]] = json.dumps({"first_error": said, "evidence": f"scripted for {i}"})
    script[response[perception[1]]] = "The first error is a perception error: the count is wrong."
    server = ScriptedJudge(script, fail_first=response[reasoning[1]])
    try:
        cfg = JudgeConfig(url=server.url, model="scripted", retries=2)
        out = tmp_path / "diag"
        summary = diagnose(items_path, data, out, judge=cfg)
        assert len(server.requests) == len(wrong_img) + 1  # one retry
        rows = {r["id"]: r for r in map(json.loads, (out / "diagnosis.jsonl").read_text().splitlines())}
        assert {i: r["oracle"]["label"] for i, r in rows.items()} == truth
        assert all("but" in rows[i]["oracle"]["evidence"] for i in perception)  # the false claim is named

        p, r = len(perception), len(reasoning)
        vs = summary["vs_oracle"]["judge"]
        assert (vs["tp"], vs["fn"], vs["fp"], vs["tn"]) == (p - 1, 1, 1, r - 1)
        assert vs["precision"] == pytest.approx((p - 1) / p) and vs["recall"] == pytest.approx((p - 1) / p)
        assert summary["overall"]["oracle"]["perception_share"] == pytest.approx(p / (p + r))
        assert summary["overall"]["judge"]["perception"] == p
        assert summary["text_only_wrong"] == sum(
            not it["correct"] and it["family"] == "textual" for it in items
        )
        by_bench = summary["by"]["benchmark"]
        assert sum(v["oracle"]["n"] for v in by_bench.values()) == len(wrong_img)

        cache = [json.loads(line) for line in (out / "judge.jsonl").read_text().splitlines()]
        assert {c["label"] for c in cache} <= {"perception", "reasoning"}
        assert all("$" not in c["prompt"] and c["raw"] for c in cache)  # template filled, every reply stored
        assert any(
            data[perception[0]]["caption"] in c["prompt"] for c in cache
        )  # the judge reads the caption

        before = len(server.requests)
        assert diagnose(items_path, data, out, judge=cfg)["vs_oracle"]["judge"] == vs
        assert len(server.requests) == before  # everything came from the cache
    finally:
        server.close()


def test_caption_probe_with_the_tiny_model_is_cached(fake, tiny_model_dir, tmp_path):
    import torch

    from stagewise.models.load import load_model_and_processor

    run, _, data = fake
    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    items_path = run / "eval" / "base" / "items.jsonl"
    out = tmp_path / "probe"
    kwargs = dict(model=model, processor=processor, limit=3, max_new_tokens=6, instruction=None)
    summary = diagnose(items_path, data, out, probe_mode="beside", **kwargs)
    probe = [json.loads(line) for line in (out / "probe-beside-caption.jsonl").read_text().splitlines()]
    assert len(probe) == 3 and summary["overall"]["probe"]["n"] == 3
    assert all(p["label"] == ("perception" if p["correct"] else "reasoning") for p in probe)
    assert data[probe[0]["id"]]["caption"] in probe[0]["prompt"]
    diagnose(items_path, data, out, probe_mode="beside", **kwargs)
    assert len((out / "probe-beside-caption.jsonl").read_text().splitlines()) == 3  # nothing asked again
    summary = diagnose(
        items_path, data, tmp_path / "stmt", probe_mode="replace", caption="statement", **kwargs
    )
    assert summary["overall"]["probe"]["n"] == 3


def test_items_from_other_data_are_refused_with_file_line_and_field(fake, tmp_path):
    run, _, data = fake
    bad = tmp_path / "items.jsonl"
    bad.write_text(json.dumps({"id": "nope", "response": "x", "correct": False}) + "\n")
    with pytest.raises(ValueError, match=r"items.jsonl:1: id 'nope' is not in the data"):
        diagnose(bad, data, tmp_path / "out")
    bad.write_text(json.dumps({"id": "nope", "correct": False}) + "\n")
    with pytest.raises(ValueError, match=r"items.jsonl:1: missing field 'response'"):
        diagnose(bad, data, tmp_path / "out")
