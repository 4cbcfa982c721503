"""A write-mcq run killed half way and restarted gives the same final files as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from perception_helpers import good_reply, write_docci

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("mcq.jsonl", "write_report.json", "bad_input.jsonl")


def run_cli(url, docci, out) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "stagewise.cli",
        "data",
        "write-mcq",
        "--source",
        "docci",
        "--input",
        str(docci),
        "--out",
        str(out),
        "--writer",
        "endpoint",
        "--base-url",
        url,
        "--model",
        "m",
        "--concurrency",
        "2",
        "--timeout",
        "5",
        "--retries",
        "0",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_run_resumes_to_identical_files(tmp_path, chat_server):
    server = chat_server(lambda text, body: ("sleep", 0.05, (200, good_reply(text))))
    captions = {f"p{i:03d}": f"Picture {i} shows a thing named t{i * 7}" for i in range(40)}
    captions["bad"] = ""  # bad input must be reported the same way in both runs
    docci = write_docci(tmp_path / "docci", captions)

    whole = tmp_path / "whole"
    assert run_cli(server.url, docci, whole).wait(timeout=120) == 0
    n_whole = len(server.requests)
    assert n_whole == 40

    cut = tmp_path / "cut"
    proc = run_cli(server.url, docci, cut)
    cache = cut / "mcq.cache.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 10):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before_kill = sum(1 for line in cache.read_text().splitlines() if line.endswith("}"))  # not torn
    time.sleep(0.2)  # let requests that were in flight at the kill reach the server
    asked_by_killed = len(server.requests) - n_whole
    assert 10 <= done_before_kill < 40, "the kill must land half way"
    assert not (cut / "mcq.jsonl").exists()

    assert run_cli(server.url, docci, cut).wait(timeout=120) == 0
    for name in FINAL:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    # The restart asks exactly the items not finished before the kill: nothing finished is redone, and only
    # the requests in flight at the kill (concurrency 2) were lost.
    assert len(server.requests) - n_whole - asked_by_killed == 40 - done_before_kill
    assert asked_by_killed <= done_before_kill + 2
