"""The OpenMP wait policy is set before torch loads (a user's own setting wins)."""

import os
import subprocess
import sys

CODE = "import stagewise.cli, os, torch; print(os.environ['OMP_WAIT_POLICY'])"


def _policy(env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy:
        env["OMP_WAIT_POLICY"] = env_policy
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_passive_waits_unless_the_user_chose():
    assert _policy(None) == "PASSIVE"
    assert _policy("ACTIVE") == "ACTIVE"
