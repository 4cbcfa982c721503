"""The OpenMP wait policy and spin count are set before torch loads (a user's own settings win)."""

import os
import subprocess
import sys

CODE = "import stagewise.cli, os, torch; e = os.environ; print(e['OMP_WAIT_POLICY'], e.get('GOMP_SPINCOUNT'))"


def _policy(**user) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(user)
    return subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_passive_waits_after_a_short_spin_unless_the_user_chose():
    assert _policy() == "PASSIVE 10000"
    # the user's policy is not cut short by our spin count
    assert _policy(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE None"
    assert _policy(GOMP_SPINCOUNT="500", OMP_WAIT_POLICY="PASSIVE") == "PASSIVE 500"
