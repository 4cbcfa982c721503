"""Run a benchmark with a generation backend, or score existing predictions, into items.jsonl + metrics.json.

Per item: id, response, extracted, correct, response_tokens, think_tokens (plus the benchmark's own fields).
`items.jsonl` grows batch by batch, so a killed run continues where it stopped; the metrics file is written
atomically at the end with the settings (mode, extraction, prompts, judge) that produced it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.progress import Progress

from stagewise.data.prompts import load_prompt
from stagewise.data.sources import DataError
from stagewise.eval.benchmarks import get_benchmark
from stagewise.eval.benchmarks.common import open_image, pre_extract, read_records
from stagewise.rewards.verify import format_ok
from stagewise.utils import append_jsonl, atomic_write_json, atomic_write_jsonl, library_bars_off

log = logging.getLogger(__name__)


@dataclass
class EvalSettings:
    """How a benchmark is prompted, extracted and scored."""

    mode: str = "official"
    """Scoring mode: `official` (the benchmark authors' scorer, applied to the raw response exactly as their
    code reads it), `chain` (the harness's pre-extraction, then the official rule) or a named harness mode
    (see each module)."""
    extract: str | None = None
    """Pre-extraction before the benchmark's rule, overriding the mode's: `chain` (think block, boxed, answer
    tag, "answer is") or `raw`; None: the mode's own (`official`: the benchmark's `OFFICIAL_EXTRACT`, raw for
    every rule-based scorer here; other modes: its `HARNESS_EXTRACT`, chain except for the world's
    verifier)."""
    instruction: str | None = None
    """Template appended to the benchmark's prompt (e.g. `think_boxed` for trained models); None for none."""
    system_prompt: str | None = None
    """System turn: a `prompts/` template name or literal text; None for none (base models)."""
    max_new_tokens: int = 1024
    """Greedy decoding budget per response."""
    batch_size: int = 16
    """Requests per generation batch (and per append to items.jsonl)."""


def _template_or_text(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return load_prompt(value)
    except FileNotFoundError:
        return value


def think_text(response: str) -> str:
    start, end = response.find("<think>"), response.find("</think>")
    if start < 0:
        return ""
    return response[start + len("<think>") : end if end > start else len(response)]


def prompt_text(bench, row: dict, settings: EvalSettings) -> str:
    text = bench.prompt(row)
    instruction = _template_or_text(settings.instruction)
    return f"{text}\n{instruction}" if instruction else text


HARNESS_MODES = ("chain",)
"""Modes every benchmark takes besides its own: `chain` = the harness's pre-extraction, then the official
rule."""


def extraction_style(bench, settings: EvalSettings) -> str:
    """The pre-extraction a setting uses: an explicit `extract`, else the benchmark's own for its mode (the
    official scorer's reading of the response for `official`)."""
    if settings.extract:
        return settings.extract
    return bench.OFFICIAL_EXTRACT if settings.mode == "official" else bench.HARNESS_EXTRACT


def rule_mode(settings: EvalSettings) -> str:
    """The benchmark module's own mode behind a setting (`chain` uses the official rule)."""
    return "official" if settings.mode in HARNESS_MODES else settings.mode


def score_response(bench, row: dict, response: str, settings: EvalSettings, judge=None) -> dict:
    """Extracted answer and correctness of one response (plus the benchmark's own fields)."""
    text = pre_extract(response, extraction_style(bench, settings))
    mode = rule_mode(settings)
    if judge is not None and bench.judge is not None:
        out = bench.judge(text, row, judge.ask, mode)
    else:
        out = {"extracted": bench.extract(text, row, mode)}
    if "correct" not in out:
        out.update(bench.score(out["extracted"], row, mode))
    out["correct"] = bool(out["correct"])
    return out


def read_done(items_path: Path) -> dict[str, dict]:
    """Items already scored; a torn last line (a kill mid-write) is dropped and the file rewritten clean."""
    done: dict[str, dict] = {}
    if not items_path.exists():
        return done
    for line in items_path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[row["id"]] = row
    atomic_write_jsonl(items_path, list(done.values()))
    return done


def _check(bench, name: str, mode: str, rows: list[dict]) -> None:
    if mode not in bench.MODES + HARNESS_MODES:
        raise ValueError(f"{name}: unknown mode {mode!r} (modes: {', '.join(bench.MODES + HARNESS_MODES)})")
    seen: set[str] = set()
    twice = [r["id"] for r in rows if r["id"] in seen or seen.add(r["id"])]
    if twice:
        raise DataError(f"{name}: item ids must be unique; repeated: {_listing(twice)}")


def finish(
    name: str,
    bench,
    rows: list[dict],
    done: dict[str, dict],
    out: Path,
    settings: EvalSettings,
    judge=None,
    metrics_name: str = "metrics.json",
    extra: dict | None = None,
) -> dict:
    results = [done[r["id"]] for r in rows]
    metrics = bench.metrics(rows, results, rule_mode(settings))
    tokens = [r["response_tokens"] for r in results if r.get("response_tokens") is not None]
    think = [r["think_tokens"] for r in results if r.get("think_tokens") is not None]
    metrics["run"] = {
        "benchmark": name,
        "n": len(results),
        **asdict(settings),
        "extract": extraction_style(bench, settings),
        # the authors' scorer as they run it: official mode on the response as their code reads it
        "official": settings.mode == "official"
        and extraction_style(bench, settings) == extraction_style(bench, EvalSettings()),
        "mean_response_tokens": sum(tokens) / len(tokens) if tokens else None,
        "mean_think_tokens": sum(think) / len(think) if think else None,
        "judge": judge.record() if judge is not None else None,
        **(extra or {}),
    }
    atomic_write_json(out / metrics_name, metrics)
    return metrics


def _same_settings(path: Path, settings: dict) -> None:
    """A resumed run must continue with the settings it started with, or its items would mix two setups."""
    if path.exists():
        before = json.loads(path.read_text())
        changed = {
            k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v and k != "batch_size"
        }
        if changed:
            diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(
                f"{path.parent}: started with other settings ({diff}); use a new --out, or "
                "`stagewise eval score` to rescore its items.jsonl"
            )
    else:
        atomic_write_json(path, settings)


def run(
    name: str,
    rows: list[dict],
    backend,
    out_dir: str | Path,
    settings: EvalSettings,
    judge=None,
    metrics_name: str = "metrics.json",
) -> dict:
    """Generate for every row not yet in items.jsonl, score, append; then write the metrics."""
    bench = get_benchmark(name)
    _check(bench, name, settings.mode, rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items_path = out / "items.jsonl"
    _same_settings(out / "settings.json", {"benchmark": name, **asdict(settings)})
    done = read_done(items_path)
    todo = [r for r in rows if r["id"] not in done]
    # Image and text-only requests are generated in separate batches.
    todo.sort(key=lambda r: not r.get("images"))
    system = _template_or_text(settings.system_prompt)
    with library_bars_off(), Progress(transient=True) as progress:
        task = progress.add_task(f"{name} -> {out.name}", total=len(todo))
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start : start + settings.batch_size]
            scored = []
            for group in ([r for r in batch if r.get("images")], [r for r in batch if not r.get("images")]):
                if not group:
                    continue
                reqs = [
                    {
                        "id": r["id"],
                        "text": prompt_text(bench, r, settings),
                        "system": system,
                        "images": [open_image(i) for i in r.get("images") or []],
                    }
                    for r in group
                ]
                gens = backend.generate(reqs, settings.max_new_tokens)
                for r, g in zip(group, gens, strict=True):
                    item = {
                        "id": r["id"],
                        "response": g["response"],
                        **score_response(bench, r, g["response"], settings, judge),
                        "response_tokens": g["response_tokens"],
                        "think_tokens": backend.count_tokens(think_text(g["response"])),
                        "truncated": g["truncated"],
                        "format_ok": format_ok(g["response"]),
                    }
                    scored.append(item)
            append_jsonl(items_path, scored)
            done.update((s["id"], s) for s in scored)
            progress.advance(task, len(batch))
    return finish(
        name,
        bench,
        rows,
        done,
        out,
        settings,
        judge,
        metrics_name,
        {"backend": backend.name},
    )


# ------------------------------------------------------------------------------------ existing predictions
class PredictionError(DataError):
    """A prediction file that does not match the benchmark's items; the message lists the offending ids."""


def _listing(ids: list[str], n: int = 10) -> str:
    return ", ".join(ids[:n]) + (f" ... ({len(ids)} in all)" if len(ids) > n else "")


def read_predictions(path: str | Path, field: str = "response", id_field: str = "id") -> dict[str, dict]:
    """id -> record from JSONL / a JSON list / a JSON dict keyed by id; each record must carry `field`."""
    path = Path(path)
    if not path.exists():
        raise PredictionError(f"{path}: prediction file not found")
    records = read_records(path)
    preds: dict[str, dict] = {}
    wrong = []
    for i, rec in enumerate(records):
        where = f"{path}: {'line ' + str(i + 1) if path.suffix == '.jsonl' else 'row ' + str(i)}"
        if not isinstance(rec, dict):
            raise PredictionError(f"{where}: not a JSON object")
        pid = rec.get(id_field, rec.get("_key"))
        if pid is None:
            raise PredictionError(f"{where}: missing id field {id_field!r}")
        pid = str(pid)
        if pid in preds:
            raise PredictionError(f"{where}: id {pid!r} appears twice")
        value = rec.get(field, KeyError)
        if value is KeyError or not (value is None or isinstance(value, str | int | float)):
            wrong.append(f"{pid} ({'missing' if value is KeyError else type(value).__name__})")
        preds[pid] = rec
    if wrong:
        raise PredictionError(
            f"{path}: field {field!r} missing or not text in {len(wrong)} predictions: {_listing(wrong)}"
        )
    return preds


def _score_prediction(bench, row: dict, rec: dict, field: str, settings: EvalSettings, judge) -> dict:
    value = rec[field]
    if field == "response":
        response = "" if value is None else str(value)
        item = {
            "id": row["id"],
            "response": response,
            **score_response(bench, row, response, settings, judge),
            "format_ok": format_ok(response),
        }
    else:  # an already extracted answer
        item = {
            "id": row["id"],
            "response": rec.get("response"),
            "extracted": value,
            **bench.score(value, row, rule_mode(settings)),
        }
        item["correct"] = bool(item["correct"])
    item.setdefault("response_tokens", rec.get("response_tokens"))
    item.setdefault("think_tokens", rec.get("think_tokens"))
    return item


def score(
    name: str,
    rows: list[dict],
    predictions: str | Path,
    out_dir: str | Path,
    settings: EvalSettings,
    field: str = "response",
    id_field: str = "id",
    judge=None,
    allow_extra: bool = False,
) -> dict:
    """Score a prediction file without any model. `field` is `response` (extracted here) or a field that
    already holds the extracted answer (e.g. MathVista's `extraction`), which skips extraction. `allow_extra`
    ignores predictions for items outside `rows` (a `--limit` run); missing ones are always an error."""
    bench = get_benchmark(name)
    _check(bench, name, settings.mode, rows)
    preds = read_predictions(predictions, field, id_field)
    wanted = {r["id"] for r in rows}
    missing = [r["id"] for r in rows if r["id"] not in preds]
    extra = [] if allow_extra else [p for p in preds if p not in wanted]
    if missing or extra:
        parts = [f"{len(missing)} missing ids: {_listing(missing)}"] if missing else []
        parts += [f"{len(extra)} ids not in the benchmark: {_listing(extra)}"] if extra else []
        raise PredictionError(
            f"{predictions}: does not match {name} ({len(rows)} items): " + "; ".join(parts)
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items_path = out / "items.jsonl"
    # Rules rescore in a moment, so they always start afresh; judge calls are slow and paid, so a judged run
    # appends as it goes and a rerun with the same settings continues where it stopped.
    done: dict[str, dict] = {}
    if judge is not None:
        run_id = {
            "benchmark": name,
            **asdict(settings),
            "predictions": str(predictions),
            "field": field,
            "judge": judge.model,
        }
        _same_settings(out / "settings.json", run_id)
        done = read_done(items_path)
    else:
        items_path.unlink(missing_ok=True)
    scored_rows, pending = [], []
    for row in rows:
        rec = preds[row["id"]]
        # Official scorers that read problem fields from the output file (MathVista) get them from there too.
        row = {**row, **{f: rec[f] for f in bench.PREDICTION_FIELDS if f in rec}}
        scored_rows.append(row)
        if row["id"] in done:
            continue
        pending.append(_score_prediction(bench, row, rec, field, settings, judge))
        if len(pending) >= 50:
            append_jsonl(items_path, pending)
            done.update((i["id"], i) for i in pending)
            pending = []
    append_jsonl(items_path, pending)
    done.update((i["id"], i) for i in pending)
    return finish(
        name,
        bench,
        scored_rows,
        done,
        out,
        settings,
        judge,
        extra={"predictions": str(predictions), "field": field},
    )
