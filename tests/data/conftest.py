"""A real OpenAI-compatible `/v1/chat/completions` server on loopback, replying from a test's script."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class ChatServer:
    """`script(text, body) -> (status, reply)`: status 200 sends `reply` as the message content (n copies, or a
    list of n replies), other statuses send an error; `("sleep", seconds, reply)` delays first. Every request's
    user text and Authorization header are recorded."""

    def __init__(self, script):
        self.script = script
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][-1]["content"]
                text = content if isinstance(content, str) else " ".join(
                    p.get("text", "") for p in content if p.get("type") == "text")
                has_image = not isinstance(content, str) and any(p["type"] == "image_url" for p in content)
                with server.lock:
                    server.requests.append({"text": text, "auth": self.headers.get("Authorization"),
                                            "image": has_image, "path": self.path, "body": body})
                out = server.script(text, body)
                if out[0] == "sleep":
                    time.sleep(out[1])
                    out = out[2]
                status, reply = out
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"scripted failure")
                    return
                replies = reply if isinstance(reply, list) else [reply] * body.get("n", 1)
                data = json.dumps({"choices": [{"index": i, "message": {"role": "assistant", "content": r}}
                                               for i, r in enumerate(replies)]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def texts(self) -> list[str]:
        with self.lock:
            return [r["text"] for r in self.requests]


@pytest.fixture
def chat_server():
    servers = []

    def start(script) -> ChatServer:
        s = ChatServer(script)
        s.thread.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def write_docci(root, captions: dict[str, str], broken: dict[str, str] | None = None):
    """A DOCCI-layout folder: `descriptions.jsonl` + `images/`; `broken` maps an id to 'missing' or 'unreadable'."""
    from PIL import Image

    broken = broken or {}
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (rid, caption) in enumerate(captions.items()):
        name = f"{rid}.png"
        if broken.get(rid) == "unreadable":
            (root / "images" / name).write_bytes(b"not a png at all")
        elif broken.get(rid) != "missing":
            Image.new("RGB", (28, 28), (10 * i % 255, 40, 90)).save(root / "images" / name)
        lines.append(json.dumps({"example_id": rid, "description": caption, "image_file": name}))
    path = root / "descriptions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def good_reply(text: str) -> str:
    """A valid item whose answer depends on the caption's last word (so replies differ per item)."""
    word = text.strip().split()[-1]
    return json.dumps({"question": f"What is shown about {word}?",
                       "options": {"A": f"{word} one", "B": f"{word} two", "C": f"{word} three", "D": f"{word} four"},
                       "answer": "ABCD"[len(word) % 4]})
