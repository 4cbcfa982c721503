"""stagewise: capability-staged post-training of vision-language models."""

import os

# OpenMP threads that wait for work spin by default; on a shared CPU machine the spinning threads of one
# job steal the cores another job needs, and a 2-thread torch loop beside one busy process ran 2-4x slower
# than with PASSIVE waits (BENCHMARKS.md, "Reliability"). Sleeping at once costs generation, a long run of
# small ops, 1.7x on a quiet machine, so waiting threads first spin briefly: 10k spins give quiet generation
# the default's speed, and beside a busy process 2.7 s where PASSIVE alone takes 2.2 and the default 4.6-8.3.
# libgomp reads both once, when torch loads, so they are set here, before anything in stagewise imports
# torch; a user's own settings win.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["GOMP_SPINCOUNT"] = "10000"

__version__ = "0.1.0"
