"""stagewise: capability-staged post-training of vision-language models."""

import os

# OpenMP threads that wait for work spin by default; on a shared CPU machine the spinning threads of one job
# steal the cores another job needs, and a 2-thread torch loop beside one busy process ran 4x slower than with
# PASSIVE waits (BENCHMARKS.md, "Reliability"), at about 12% on a quiet machine. libgomp reads this once, when
# torch loads, so it is set here, before anything in stagewise imports torch; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
