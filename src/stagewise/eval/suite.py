"""The recipe's benchmark step: score one model on every `eval.benchmarks` entry, skipping finished ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stagewise.config import EvalConfig
from stagewise.eval import harness
from stagewise.eval.benchmarks import load_benchmark

log = logging.getLogger(__name__)


def run_benchmarks(
    ev: EvalConfig, model_path: str | Path, out_root: str | Path, backend=None
) -> dict[str, dict]:
    """name -> metrics for each benchmark of `ev`; the model is loaded only if a benchmark is unfinished.
    `backend`: a callable that makes the generation backend (train/pipeline.eval_backend); default:
    transformers with `ev.backend` resolved, on the GPU when there is one."""
    make = backend
    backend = None
    results = {}
    for spec in ev.benchmarks:
        label = spec_label(spec)
        out = Path(out_root) / label
        if (out / "metrics.json").exists():
            results[label] = json.loads((out / "metrics.json").read_text())
            continue
        if backend is None:
            from stagewise.eval.backends import make_backend

            backend = (
                make()
                if make is not None
                else make_backend(ev.backend, str(model_path), batch_size=ev.batch_size, base_url=ev.base_url)
            )
        rows = load_benchmark(spec.name, spec.data, limit=spec.limit, images=spec.images, subset=spec.subset)
        settings = harness.EvalSettings(
            mode=spec.mode,
            instruction=spec.instruction,
            max_new_tokens=spec.max_new_tokens or ev.max_new_tokens,
            batch_size=ev.batch_size,
        )
        log.info("eval %s on %s (%d items)", model_path, label, len(rows))
        results[label] = harness.run(spec.name, rows, backend, out, settings)
    return results


def spec_label(spec) -> str:
    """An entry's output folder and result key: the benchmark, or benchmark-subset where two entries of one
    benchmark differ by subset (MathVerse's Vision Intensive and Vision Only in the paper's suites)."""
    if not spec.subset:
        return spec.name
    return f"{spec.name}-{spec.subset.lower().replace(' ', '_').replace('-', '_')}"
