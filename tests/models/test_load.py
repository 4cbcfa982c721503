"""A model reference is checked within seconds: folders must hold a saved model, hub ids must be in the local
cache or known to the Hub (a loopback stand-in here; nothing leaves the machine)."""

import http.server
import json
import socket
import threading
import time

import pytest
from huggingface_hub import constants

from stagewise.models.load import ModelNotFoundError, check_model_ref, load_model_and_processor


class _Hub(http.server.BaseHTTPRequestHandler):
    """Answers /api/models/<id> as the Hub does: known ids get their info, unknown ones 401 + RepoNotFound."""

    known = {"org/exists": {"id": "org/exists", "modelId": "org/exists", "sha": "0" * 40, "private": False}}
    status_for = {}  # id -> status to answer with instead

    def do_GET(self):
        repo = self.path.split("/api/models/", 1)[-1].split("?")[0].rstrip("/")
        if repo in self.status_for:
            self._send(self.status_for[repo], {"error": "nope"}, {})
        elif repo in self.known:
            self._send(200, self.known[repo], {})
        else:  # what huggingface.co answers for a missing (or private) repo without a token
            self._send(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})

    def _send(self, status, body, headers):
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(
        constants, "HF_HUB_OFFLINE", False
    )  # conftest sets HF_HUB_OFFLINE=1 before the import
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    yield url
    server.shutdown()
    server.server_close()


def test_a_missing_hub_model_fails_within_seconds_naming_it(hub, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ModelNotFoundError) as info:
        load_model_and_processor("nobody/no-such-model")
    assert time.monotonic() - t0 < 5
    msg = str(info.value)
    assert msg.startswith("model 'nobody/no-such-model' not found on the Hub (" + hub)
    assert f"or in the local cache ({tmp_path / 'hf' / 'hub'})" in msg
    assert isinstance(info.value, FileNotFoundError)  # the CLI reports it as one line


def test_the_hub_is_asked_and_its_answers_are_named(hub):
    assert check_model_ref("org/exists") == "hub"
    _Hub.status_for["org/plain-404"] = 404
    _Hub.status_for["org/broken"] = 500
    try:
        with pytest.raises(ModelNotFoundError, match="'org/plain-404' not found on the Hub"):
            check_model_ref("org/plain-404")
        with pytest.raises(
            ModelNotFoundError,
            match=r"'org/broken' is not in the local cache .* could not be asked "
            r"\(HTTP 500\)",
        ):
            check_model_ref("org/broken")
    finally:
        _Hub.status_for.clear()


def test_a_hub_that_does_not_answer_is_given_up_on(monkeypatch, tmp_path):
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    t0 = time.monotonic()
    try:
        with pytest.raises(
            ModelNotFoundError,
            match=r"'org/slow' is not in the local cache .* could not be asked .*"
            "HF_HUB_OFFLINE=1",
        ):
            check_model_ref("org/slow", timeout=0.5)
    finally:
        silent.close()
    assert time.monotonic() - t0 < 3


def test_offline_only_the_cache_is_looked_at(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # would be refused, if it were asked
    with pytest.raises(
        ModelNotFoundError,
        match=r"'org/model' not found in the local cache \(.*hf/hub\) and "
        "HF_HUB_OFFLINE is set",
    ):
        check_model_ref("org/model")
    snap = tmp_path / "hf" / "hub" / "models--org--model"
    (snap / "refs").mkdir(parents=True)
    (snap / "refs" / "main").write_text("abc123")
    (snap / "snapshots" / "abc123").mkdir(parents=True)
    (snap / "snapshots" / "abc123" / "config.json").write_text("{}")
    assert check_model_ref("org/model") == "cache"


def test_local_folders_must_hold_a_saved_model(tmp_path, tiny_model_dir):
    assert check_model_ref(tiny_model_dir) == "local" and check_model_ref(str(tiny_model_dir)) == "local"
    with pytest.raises(ModelNotFoundError, match="model folder not found: ./runs/x/base"):
        load_model_and_processor("./runs/x/base")
    with pytest.raises(ModelNotFoundError, match="model folder not found: runs/x/base"):
        check_model_ref("runs/x/base")  # two slashes: a path, never a hub id
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=f"model folder {tmp_path / 'empty'} has no config.json"):
        load_model_and_processor(tmp_path / "empty")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="is a file, not a model folder"):
        check_model_ref(tmp_path / "weights.bin")
    with pytest.raises(ModelNotFoundError, match="neither a model folder .* nor a valid hub id"):
        check_model_ref("org/has space")


def test_a_run_naming_a_missing_hub_model_stops_before_any_work(hub, tmp_path):
    from stagewise.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: r
output_dir: {tmp_path / "runs"}
world: {{train_size: 4, test_size: 2}}
model: {{source: nobody/no-such-vlm}}
stages:
  - {{name: p, capability: perception, data: {{families: [perception]}}}}
""")
    assert main(["run", str(recipe)]) == 2
    assert not (tmp_path / "runs" / "r" / "data").exists()  # no world built for a run that cannot train
