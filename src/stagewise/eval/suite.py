"""The recipe's benchmark step: score one model on every `eval.benchmarks` entry, skipping finished ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stagewise.config import EvalConfig
from stagewise.eval import harness
from stagewise.eval.benchmarks import load_benchmark

log = logging.getLogger(__name__)


def run_benchmarks(ev: EvalConfig, model_path: str | Path, out_root: str | Path, backend=None) -> dict[str, dict]:
    """name -> metrics for each benchmark of `ev`; the model is loaded only if a benchmark is unfinished.
    `backend`: a callable that makes the generation backend (train/pipeline.eval_backend); default: transformers
    with `ev.backend` resolved, on the GPU when there is one."""
    make = backend
    backend = None
    results = {}
    for spec in ev.benchmarks:
        out = Path(out_root) / spec.name
        if (out / "metrics.json").exists():
            results[spec.name] = json.loads((out / "metrics.json").read_text())
            continue
        if backend is None:
            from stagewise.eval.backends import make_backend

            backend = make() if make is not None else make_backend(ev.backend, str(model_path),
                                                                   batch_size=ev.batch_size, base_url=ev.base_url)
        rows = load_benchmark(spec.name, spec.data, limit=spec.limit, images=spec.images, subset=spec.subset)
        settings = harness.EvalSettings(
            mode=spec.mode,
            instruction=spec.instruction,
            max_new_tokens=spec.max_new_tokens or ev.max_new_tokens,
            batch_size=ev.batch_size,
        )
        log.info("eval %s on %s (%d items)", model_path, spec.name, len(rows))
        results[spec.name] = harness.run(spec.name, rows, backend, out, settings)
    return results
