"""A 2-thread torch loop of the tiny model's matmul sizes, on a quiet machine and beside one busy process,
with OpenMP's default wait policy and with OMP_WAIT_POLICY=PASSIVE (what stagewise sets unless the user did).

    .venv/bin/python bench/threads_under_load.py [--repeats 5]

Each measurement runs in a fresh interpreter, since OpenMP reads the variable once, when torch loads. Results
go to BENCHMARKS.md ("Reliability"). Run it on an otherwise idle machine: the point is one known
competitor."""

import argparse
import json
import os
import subprocess
import sys
import time

LOOP = r"""
import time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
# The tiny preset's shapes: hidden 128, MLP 512, a GRPO batch of 32 sequences x 64 tokens.
x = torch.randn(32 * 64, 128)
w1, w2 = torch.randn(128, 512), torch.randn(512, 128)
for _ in range(20):
    (x @ w1).relu() @ w2
t = time.perf_counter()
for _ in range(600):
    y = (x @ w1).relu() @ w2
print(time.perf_counter() - t)
"""

BUSY = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"


# OpenMP settings compared: libgomp's default (spin ~300k iterations, then sleep), PASSIVE (sleep at once) and
# a short spin before sleeping (GOMP_SPINCOUNT; libgomp only, which the CPU torch wheel ships).
POLICIES = {
    "default": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
}


def one(policy: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(POLICIES[policy])
    out = subprocess.run([sys.executable, "-c", LOOP], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    results = {}
    for load in ("quiet", "beside one busy process"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "quiet" else None
        try:
            time.sleep(0.5)
            for policy in POLICIES:
                results[f"{load}, {policy}"] = [one(policy) for _ in range(args.repeats)]
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print("| machine | OpenMP setting | seconds per run (min / median / max) |")
    print("|---|---|---|")
    for key, times in results.items():
        load, policy = key.rsplit(", ", 1)
        s = sorted(times)
        print(f"| {load} | {policy} | {s[0]:.2f} / {s[len(s) // 2]:.2f} / {s[-1]:.2f} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
