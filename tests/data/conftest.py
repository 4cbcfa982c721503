"""A real OpenAI-compatible `/v1/chat/completions` server on loopback, replying from a test's script."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class ChatServer:
    """`script(text, body) -> (status, reply)`: status 200 sends `reply` as the message content (n copies, or
    a list of n replies), other statuses send an error; `("sleep", seconds, reply)` delays first. Every
    request's user text and Authorization header are recorded."""

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
                text = (
                    content
                    if isinstance(content, str)
                    else " ".join(p.get("text", "") for p in content if p.get("type") == "text")
                )
                has_image = not isinstance(content, str) and any(p["type"] == "image_url" for p in content)
                with server.lock:
                    server.requests.append(
                        {
                            "text": text,
                            "auth": self.headers.get("Authorization"),
                            "image": has_image,
                            "path": self.path,
                            "body": body,
                        }
                    )
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
                data = json.dumps(
                    {
                        "choices": [
                            {"index": i, "message": {"role": "assistant", "content": r}}
                            for i, r in enumerate(replies)
                        ]
                    }
                ).encode()
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
