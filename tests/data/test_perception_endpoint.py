"""The endpoint writer against a real HTTP server on loopback, failures included; reruns retry only
failures."""

import json
import threading
import time

from perception_helpers import good_reply, write_docci

from stagewise.data.perception import sources
from stagewise.data.perception.writer import WriterConfig, write_mcq
from stagewise.endpoint import ChatClient, EndpointConfig, EndpointError

CAPTIONS = {f"img{i:02d}": f"A photo number {i} of a thing called item{i}" for i in range(8)}
CAPTIONS |= {
    "slow": "A photo that makes the server hang TIMEOUT",
    "boom": "A photo that makes the server fail E500",
    "junk": "A photo that gets a BADJSON reply",
    "short": "A photo that gets a MISSOPT reply",
}
SECRET = "sk-test-very-secret-0123456789"


def broken_then_fixed():
    state = {"fixed": False}

    def script(text, body):
        if not state["fixed"]:
            if "TIMEOUT" in text:
                return ("sleep", 1.0, (200, good_reply(text)))
            if "E500" in text:
                return (500, "")
            if "BADJSON" in text:
                return (200, '{"question": "Which colour", "options": {"A": "red"')
            if "MISSOPT" in text:
                return (
                    200,
                    json.dumps(
                        {
                            "question": "Where?",
                            "options": {"A": "left", "B": "right", "C": "top"},
                            "answer": "A",
                        }
                    ),
                )
        return (200, good_reply(text))

    return script, state


def cfg(url):
    return WriterConfig(
        writer="endpoint",
        endpoint=EndpointConfig(
            base_url=url,
            model="writer-llm",
            api_key_env="TEST_WRITER_KEY",
            concurrency=4,
            timeout_s=0.3,
            max_retries=1,
            backoff_s=0.01,
        ),
    )


def test_failures_are_counted_and_only_they_are_retried(tmp_path, chat_server, monkeypatch, caplog):
    monkeypatch.setenv("TEST_WRITER_KEY", SECRET)
    script, state = broken_then_fixed()
    server = chat_server(script)
    records = sources.docci(write_docci(tmp_path / "docci", CAPTIONS))
    out = tmp_path / "out"

    report = write_mcq(records, out, cfg(server.url))
    assert report["written"] == 8 and report["failed"] == 4
    assert report["failed_by_reason"] == {"timeout": 1, "http_500": 1, "not_json": 1, "missing_option": 1}
    assert {f["id"]: f["reason"] for f in report["failed_ids"]} == {
        "slow": "timeout",
        "boom": "http_500",
        "junk": "not_json",
        "short": "missing_option",
    }
    # Timeouts and 500s were retried once (2 attempts); a malformed reply is not a transport error.
    texts = server.texts()
    assert sum("E500" in t for t in texts) == 2 and sum("TIMEOUT" in t for t in texts) == 2
    assert sum("BADJSON" in t for t in texts) == 1
    assert len([json.loads(x) for x in (out / "mcq.jsonl").read_text().splitlines()]) == 8
    # The key went in the header only: never into a log line or any file.
    assert {r["auth"] for r in server.requests} == {f"Bearer {SECRET}"}
    assert SECRET not in caplog.text
    assert not [p for p in out.rglob("*") if p.is_file() and SECRET in p.read_text()]

    state["fixed"] = True
    n_before = len(server.requests)
    report = write_mcq(records, out, cfg(server.url))
    retried = server.texts()[n_before:]
    assert sorted(t.split("\n")[-1] for t in retried) == sorted(
        CAPTIONS[i] for i in ("slow", "boom", "junk", "short")
    )
    assert report["written"] == 12 and report["failed"] == 0
    items = [json.loads(x) for x in (out / "mcq.jsonl").read_text().splitlines()]
    assert [i["id"] for i in items] == list(CAPTIONS)  # input order, whatever order replies came in
    assert items[0]["answer"] in "ABCD" and set(items[0]["options"]) == set("ABCD")

    # A third run asks nothing.
    n_before = len(server.requests)
    write_mcq(records, out, cfg(server.url))
    assert len(server.requests) == n_before


def test_client_does_not_retry_client_errors_and_counts_connection_failures(chat_server):
    server = chat_server(lambda text, body: (400, ""))
    client = ChatClient(EndpointConfig(base_url=server.url, model="m", max_retries=3, backoff_s=0.01))
    try:
        client.chat("hello")
        raise AssertionError("expected an EndpointError")
    except EndpointError as e:
        assert e.reason == "http_400"
    assert len(server.requests) == 1
    dead = ChatClient(
        EndpointConfig(
            base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff_s=0.01, timeout_s=1
        )
    )
    try:
        dead.chat("hello")
        raise AssertionError("expected an EndpointError")
    except EndpointError as e:
        assert e.reason in ("connection", "timeout")
    assert "sk-" not in repr(client)


def test_bad_input_is_counted_by_id_and_never_crashes(tmp_path, chat_server):
    server = chat_server(lambda text, body: (200, good_reply(text)))
    caps = {
        "ok1": "A red ball on a table",
        "gone": "An image file that is missing",
        "broken": "An image file that is not an image",
        "empty": "   ",
        "ok2": "A blue cup",
    }
    path = write_docci(tmp_path / "d", caps, broken={"gone": "missing", "broken": "unreadable"})
    with path.open("a") as f:  # a duplicate id and a line that is not JSON
        f.write(json.dumps({"example_id": "ok1", "description": "again", "image_file": "ok1.png"}) + "\n")
        f.write("{not json\n")
    report = write_mcq(sources.docci(path), tmp_path / "out", cfg(server.url))
    bad = {(b["id"], b["field"]) for b in report["bad_input_ids"]}
    assert bad == {
        ("gone", "image"),
        ("broken", "image"),
        ("empty", "caption"),
        ("ok1", "id"),
        ("descriptions.jsonl:7", "line"),
    }
    reasons = {b["id"]: b["reason"] for b in report["bad_input_ids"]}
    assert "not found" in reasons["gone"] and "unreadable" in reasons["broken"]
    assert reasons["ok1"] == "duplicate id"
    assert report["bad_input"] == 5 and report["written"] == 2 and report["input"] == 7
    assert len(server.requests) == 2  # bad records never reach the writer
    assert len((tmp_path / "out" / "bad_input.jsonl").read_text().splitlines()) == 5


def test_concurrency_is_bounded(tmp_path, chat_server):
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def script(text, body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return (200, good_reply(text))

    server = chat_server(script)
    caps = {f"c{i}": f"A picture of thing{i}" for i in range(12)}
    report = write_mcq(sources.docci(write_docci(tmp_path / "d", caps)), tmp_path / "o", cfg(server.url))
    assert report["written"] == 12 and state["max"] == 4  # cfg's concurrency
