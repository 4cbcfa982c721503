"""The one OpenAI-compatible client against a real loopback server: the key is sent but never comes back out
(replies, errors, tracebacks, logs, the judge and perception caches, eval items), Retry-After is honoured, the
concurrency bound holds across threads, and timeouts and refused connections are clear errors."""

import json
import logging
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from stagewise.endpoint import ChatClient, EndpointConfig, EndpointError, redact

SECRET = "sk-test-SECRET-123"
KEY_ENV = "STAGEWISE_TEST_ENDPOINT_KEY"


class Server:
    """`/v1/chat/completions` keyed on the last user text: `ECHO` replies with the Authorization header it
    got, `E400` / `E500` send it back in a JSON error body, `LIMIT` answers 429 (Retry-After) once, `SLOW`
    sleeps, `JUNK` / `NOCHOICES` send a 200 that is no completion, anything else replies `ok <text>` after
    `delay` s. Every request's time, text and header are recorded."""

    def __init__(self, retry_after: tuple[str, str] = ("Retry-After", "0.3"), delay: float = 0.0):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.now = self.max_now = 0
        self.limited = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server

            def log_message(self, *args):
                pass

            def send(self, status: int, obj: dict, headers: dict | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                for k, v in {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(data)),
                    **(headers or {}),
                }.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][-1]["content"]
                text = (
                    content
                    if isinstance(content, str)
                    else " ".join(p.get("text", "") for p in content if p.get("type") == "text")
                )
                auth = self.headers.get("Authorization")
                with server.lock:
                    server.requests.append({"t": time.monotonic(), "text": text, "auth": auth, "body": body})
                    server.now += 1
                    server.max_now = max(server.max_now, server.now)
                try:
                    if "SLOW" in text:
                        time.sleep(1.0)
                    elif delay:
                        time.sleep(delay)
                    if "JUNK" in text:
                        data = f"<html>proxy error for {auth}</html>".encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "text/html")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        return self.wfile.write(data)
                    if "NOCHOICES" in text:
                        return self.send(200, {"object": "error", "detail": f"{auth}"})
                    if "E400" in text or "E500" in text:
                        status = 400 if "E400" in text else 500
                        return self.send(status, {"error": {"message": f"invalid key {auth} for {text}"}})
                    if "LIMIT" in text and not server.limited:
                        server.limited = True
                        return self.send(
                            429,
                            {"error": {"message": f"slow down, {auth}"}},
                            {retry_after[0]: retry_after[1]},
                        )
                    reply = f"you sent {auth}" if "ECHO" in text else f"ok {text}"
                    self.send(
                        200,
                        {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": reply},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"completion_tokens": len(reply.split())},
                        },
                    )
                finally:
                    with server.lock:
                        server.now -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def start(**kw) -> Server:
        servers.append(Server(**kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def keyed(monkeypatch, caplog):
    """The key in its environment variable, and every log record captured down to DEBUG (the openai and http
    libraries' own included)."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    return caplog


def client(url: str, **kw) -> ChatClient:
    return ChatClient(
        EndpointConfig(
            base_url=url,
            model="m-test",
            api_key_env=KEY_ENV,
            **{"max_retries": 0, "backoff_s": 0.01, "timeout_s": 5, **kw},
        )
    )


def files_holding(root, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_text(errors="replace")]


def test_redact():
    assert redact(f"key={SECRET}!", [SECRET]) == "key=***!"
    assert redact("Authorization: Bearer abc.def-1 next", []) == "Authorization: Bearer *** next"
    assert redact("other key sk-live-abcdef123 here", []) == "other key *** here"
    assert redact(f"Bearer {SECRET} and {SECRET}", [SECRET, None, ""]) == "Bearer *** and ***"
    # replies are data: only the actual key comes out, words like "Bearer" stay
    assert (
        redact("the Bearer of news, sk-abcdefgh", [SECRET], credentials=False)
        == "the Bearer of news, sk-abcdefgh"
    )
    assert redact("abc abc", ["abc"]) == "abc abc"  # too short to be a key: ordinary text is left alone
    assert redact("", [SECRET]) == ""


def test_key_is_sent_but_never_comes_back_out(server, keyed):
    srv = server()
    c = client(srv.url)
    reply = c.chat("ECHO please")[0]
    assert srv.requests[-1]["auth"] == f"Bearer {SECRET}"  # the server did get the key ...
    assert reply == "you sent Bearer ***"  # ... and the echo of it never reaches the caller
    for marker, status in (("E400", 400), ("E500", 500)):
        with pytest.raises(EndpointError) as info:
            c.chat(f"{marker} " + "x" * 1000)
        e = info.value
        msg = str(e)
        assert e.reason == f"http_{status}" and e.status == status
        assert srv.url + "/chat/completions" in msg and "'m-test'" in msg and f"HTTP {status}" in msg
        assert "invalid key Bearer ***" in msg and len(msg) < 500  # the body quoted, redacted, truncated
        text = "".join(traceback.format_exception(e))
        assert SECRET not in text and e.__suppress_context__ and "During handling" not in text  # no chained
        assert "openai" not in type(e).__module__
    assert all(r["auth"] == f"Bearer {SECRET}" for r in srv.requests)
    assert SECRET not in keyed.text and SECRET not in repr(c)
    assert any("chat/completions" in r.getMessage() for r in keyed.records)  # the libraries did log


def test_no_key_no_authorization_header(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    srv = server()
    assert client(srv.url).chat("hello") == ["ok hello"]
    assert srv.requests[-1]["auth"] is None


@pytest.mark.parametrize("header", [("Retry-After", "0.3"), ("retry-after-ms", "300")])
def test_429_waits_what_retry_after_says_then_succeeds(server, keyed, header):
    srv = server(retry_after=header)
    c = client(
        srv.url, max_retries=2, backoff_s=5.0
    )  # a 5 s backoff: a quick retry can only be Retry-After's
    t0 = time.monotonic()
    assert c.chat("LIMIT me") == ["ok LIMIT me"]
    assert len(srv.requests) == 2
    gap = srv.requests[1]["t"] - srv.requests[0]["t"]
    assert 0.28 <= gap < 2.0 and time.monotonic() - t0 < 3.0
    assert SECRET not in keyed.text


def test_backoff_without_retry_after_follows_the_config(server):
    srv = server()
    c = client(srv.url, max_retries=2, backoff_s=0.05)  # the package's own first wait would be >= 0.375 s
    with pytest.raises(EndpointError) as info:
        c.chat("E500")
    assert info.value.reason == "http_500" and len(srv.requests) == 3  # 2 retries
    gaps = [b["t"] - a["t"] for a, b in zip(srv.requests, srv.requests[1:], strict=False)]
    assert 0.035 <= gaps[0] < 0.3 and 0.07 <= gaps[1] < 0.35  # 0.05 s then 0.1 s, jittered down by <= 25%


def test_a_200_that_is_no_completion_is_a_bad_response(server, keyed):
    srv = server()
    for text in ("JUNK", "NOCHOICES"):
        with pytest.raises(EndpointError) as info:
            client(srv.url, max_retries=2).chat(text)
        assert info.value.reason == "bad_response" and srv.url in str(info.value)
        assert SECRET not in str(info.value)
    assert len(srv.requests) == 2 and SECRET not in keyed.text  # not retried


def test_400_is_not_retried(server):
    srv = server()
    with pytest.raises(EndpointError) as info:
        client(srv.url, max_retries=3).chat("E400")
    assert info.value.reason == "http_400" and len(srv.requests) == 1


def test_concurrency_bound_holds_across_threads(server):
    srv = server(delay=0.05)
    c = client(srv.url, concurrency=3)
    threads = [threading.Thread(target=c.chat, args=(f"t{i}",)) for i in range(10)]  # 10 callers, 1 client
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(srv.requests) == 10 and srv.max_now == 3
    assert c.map(lambda i: c.chat(f"m{i}")[0], list(range(8))) == [f"ok m{i}" for i in range(8)]
    assert srv.max_now == 3


def test_slow_reply_is_a_clear_timeout_error(server, keyed):
    srv = server()
    c = client(srv.url, timeout_s=0.2, max_retries=1)
    with pytest.raises(EndpointError) as info:
        c.chat("SLOW")
    msg = str(info.value)
    assert info.value.reason == "timeout" and len(srv.requests) == 2
    assert msg.startswith("timeout: ") and srv.url in msg and "'m-test'" in msg
    assert "no reply within 0.2 s (2 attempt(s))" in msg
    assert SECRET not in keyed.text


def test_refused_connection_is_a_clear_error():
    c = client("http://127.0.0.1:9/v1", timeout_s=1)
    with pytest.raises(EndpointError) as info:
        c.chat("hello")
    assert info.value.reason in ("connection", "timeout") and "127.0.0.1:9" in str(info.value)


# ------------------------------------------------------------- every caller: no key in what it writes
def test_analysis_judge_cache_never_holds_the_key(server, keyed, tmp_path):
    from stagewise.judge import JudgeConfig, judge_items

    srv = server()
    cfg = JudgeConfig(url=srv.url, model="judge-m", api_key_env=KEY_ENV, retries=1, concurrency=2)
    items = [
        {"id": i, "question": "Q?", "gold": "1", "description": "d", "response": r}
        for i, r in (("a", "ECHO it"), ("b", "E400 it"), ("c", "ECHO again"))
    ]
    out = judge_items(cfg, items, tmp_path / "judge.jsonl")
    assert out["a"]["raw"] == "you sent Bearer ***" and out["b"]["label"] == "error"
    assert "http_400" in out["b"]["evidence"] and "***" in out["b"]["evidence"]
    assert {r["auth"] for r in srv.requests} == {f"Bearer {SECRET}"} and len(srv.requests) == 3
    assert not files_holding(tmp_path, SECRET) and SECRET not in keyed.text


def test_eval_items_and_judge_never_hold_the_key(server, keyed, tmp_path):
    from stagewise.eval import harness
    from stagewise.eval.backends import OpenAIBackend
    from stagewise.judge import Judge

    srv = server()
    rows = [
        {
            "id": str(i),
            "question": f"ECHO Q{i}? Options: A: x, B: y",
            "answer": "A",
            "category": "c",
            "l2_category": "l",
            "images": [Image.new("RGB", (8, 8), "red")] if i == 0 else [],
        }
        for i in range(3)
    ]
    backend = OpenAIBackend(srv.url, "served", api_key=SECRET, concurrency=2)
    harness.run("mmstar", rows, backend, tmp_path / "o", harness.EvalSettings(batch_size=2))
    items = [json.loads(line) for line in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
    assert len(items) == 3 and all(i["response"] == "you sent Bearer ***" for i in items)
    judge = Judge(srv.url, "judge-m", api_key=SECRET, max_retries=0)
    assert SECRET not in repr(judge)
    with pytest.raises(EndpointError) as info:
        judge.client.chat("E500")
    assert SECRET not in str(info.value)
    assert {r["auth"] for r in srv.requests} == {f"Bearer {SECRET}"}
    assert not files_holding(tmp_path, SECRET) and SECRET not in keyed.text


def test_perception_writer_and_filter_caches_never_hold_the_key(server, keyed, tmp_path):
    from stagewise.data.perception.filter import FilterConfig, FilterModel, run_filter
    from stagewise.data.perception.writer import WriterConfig, write_mcq

    srv = server()
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "x.png")
    records = [
        {"id": f"r{i}", "image": str(tmp_path / "x.png"), "caption": f"A caption ECHO {i}"} for i in range(3)
    ] + [{"id": "bad", "image": str(tmp_path / "x.png"), "caption": "E400 caption"}]
    ep = EndpointConfig(base_url=srv.url, model="writer-m", api_key_env=KEY_ENV, max_retries=0, concurrency=2)
    report = write_mcq(records, tmp_path / "w", WriterConfig(writer="endpoint", endpoint=ep))
    assert report["failed"] == 4 and report["failed_by_reason"].get("http_400") == 1  # echoes are no items
    cache = (tmp_path / "w" / "mcq.cache.jsonl").read_text()
    assert "you sent Bearer ***" in cache  # the echoed replies were stored, redacted
    items = [
        {
            "id": "i",
            "image": str(tmp_path / "x.png"),
            "caption": "ECHO cap",
            "question": "ECHO?",
            "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
            "answer": "A",
            "kind": "k",
        }
    ]
    run_filter(items, tmp_path / "f", FilterConfig(models=[FilterModel("m", endpoint=ep)]))
    assert "you sent Bearer ***" in (tmp_path / "f" / "filter.cache.jsonl").read_text()
    assert {r["auth"] for r in srv.requests} == {f"Bearer {SECRET}"}
    assert not files_holding(tmp_path, SECRET) and SECRET not in keyed.text
