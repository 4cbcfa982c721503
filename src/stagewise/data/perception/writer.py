"""Question writing: caption records -> one multiple-choice item each, cached per item.

Three writers, chosen by name in `WRITERS`: `endpoint` (any OpenAI-compatible chat server, bounded
concurrency, retries, timeouts), `local` (a transformers model, batched greedy decoding) and `offline` (from
world scene graphs, no model). Every reply goes through the same strict parser; a failure is counted with its
reason and retried on the next run, never raised.

Files in `out_dir`: `mcq.cache.jsonl` (+ `.spec.json`) while running, then, written atomically at the end,
`mcq.jsonl` (the items, in input order), `write_report.json` and `bad_input.jsonl`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from stagewise.data.perception.cache import ItemCache, fingerprint
from stagewise.data.perception.offline import NoQuestion, write_from_scene
from stagewise.data.perception.parse import ParseError, parse_mcq
from stagewise.data.perception.sources import validate
from stagewise.data.prompts import load_prompt
from stagewise.endpoint import ChatClient, EndpointConfig, EndpointError
from stagewise.utils import append_jsonl, atomic_write_json, atomic_write_jsonl

log = logging.getLogger(__name__)


@dataclass
class WriterConfig:
    """Which writer writes the questions, and how."""

    writer: str = "offline"
    """`offline` (world scene graphs), `endpoint` (OpenAI-compatible server) or `local` (transformers
    model)."""
    prompt: str = "mcq_writer"
    """Item-writer prompt template (a name in `prompts/` or a file path) with a `{caption}` placeholder."""
    temperature: float = 0.0
    """Sampling temperature (the paper writes at 0)."""
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    """Server settings for the `endpoint` writer."""
    model: str = ""
    """Hub id or folder of the `local` writer's model."""
    batch_size: int = 8
    """Prompts per generation batch for the `local` writer."""
    max_new_tokens: int = 384
    """Most tokens the `local` writer generates per reply."""
    style: str = "varied"
    """The `offline` writer's questions: `varied` (its own kinds, options shuffled per item, like an LLM's) or
    `world` (the world's perception question kinds with their fixed option lists)."""
    kinds: list[str] = field(default_factory=list)
    """`world` style: only these perception question kinds (a recipe's `world.perception_kinds`); empty:
    all."""


def writer_prompt(template: str, caption: str) -> str:
    # str.replace, not str.format: the template shows a JSON example full of braces.
    return load_prompt(template).replace("{caption}", caption.strip())


# A writer maps a list of records to a list of (reply text, None) or (None, failure reason) in the same order,
# calling `done` after each item so progress shows.
Result = tuple[str | None, str | None]


def offline_writer(cfg: WriterConfig) -> tuple[Callable, int]:
    def write(records: list[dict], done: Callable[[int, Result], None]) -> None:
        for i, r in enumerate(records):
            if not r.get("scene"):
                done(i, (None, "no_scene_graph"))
                continue
            try:
                done(i, (write_from_scene(r["id"], r["scene"], cfg.style, cfg.kinds), None))
            except NoQuestion:
                done(i, (None, "no_question"))

    return write, 64


def endpoint_writer(cfg: WriterConfig) -> tuple[Callable, int]:
    client = ChatClient(cfg.endpoint)

    def one(r: dict) -> Result:
        try:
            reply = client.chat(writer_prompt(cfg.prompt, r["caption"]), temperature=cfg.temperature)[0]
            return reply, None
        except EndpointError as e:
            return None, e.reason

    def write(records: list[dict], done: Callable[[int, Result], None]) -> None:
        for i, result in client.each(one, records):
            done(i, result)

    return write, max(1, cfg.endpoint.concurrency) * 8


def local_writer(cfg: WriterConfig) -> tuple[Callable, int]:

    from stagewise.eval.generate import generate
    from stagewise.models.load import load_for_inference

    model, processor = load_for_inference(cfg.model)  # on the GPU in bf16 when there is one

    def write(records: list[dict], done: Callable[[int, Result], None]) -> None:
        for start in range(0, len(records), cfg.batch_size):
            chunk = records[start : start + cfg.batch_size]
            rows = [
                {
                    "prompt": [{"role": "user", "content": writer_prompt(cfg.prompt, r["caption"])}],
                    "images": [],
                }
                for r in chunk
            ]
            temp = {"do_sample": True, "temperature": cfg.temperature} if cfg.temperature > 0 else {}
            for i, g in enumerate(
                generate(model, processor, rows, max_new_tokens=cfg.max_new_tokens, **temp)
            ):
                done(start + i, (g["response"], None))

    return write, cfg.batch_size * 4


WRITERS: dict[str, Callable[[WriterConfig], tuple[Callable, int]]] = {
    "offline": offline_writer,
    "endpoint": endpoint_writer,
    "local": local_writer,
}


def _spec(cfg: WriterConfig) -> dict:
    spec = asdict(cfg)
    spec["prompt_sha256"] = hashlib.sha256(load_prompt(cfg.prompt).encode()).hexdigest()
    # Transport settings do not change what a reply means; a rerun may raise concurrency or timeouts.
    for k in ("concurrency", "timeout_s", "max_retries", "backoff_s"):
        spec["endpoint"].pop(k)
    if cfg.writer != "endpoint":
        spec.pop("endpoint")
    if not cfg.kinds:  # caches written before the setting existed stay valid
        spec.pop("kinds")
    return spec


def write_mcq(
    records: list[dict], out_dir: str | Path, cfg: WriterConfig | None = None, fresh: bool = False
) -> dict:
    """Write one item per valid record into `out_dir/mcq.jsonl`; returns the write report (also on disk).

    Already written items are never redone; failed ones (HTTP errors, timeouts, malformed replies) are
    retried.
    """
    cfg = cfg or WriterConfig()
    if cfg.writer not in WRITERS:
        raise ValueError(f"unknown writer {cfg.writer!r}; expected one of {', '.join(WRITERS)}")
    out = Path(out_dir)
    good, bad = validate(records)
    cache = ItemCache(out / "mcq.cache.jsonl", _spec(cfg), fresh=fresh)
    todo = [r for r in good if not cache.done(r["id"], _fp(r))]
    log.info(
        "write-mcq (%s): %d valid records, %d cached, %d to write, %d bad input",
        cfg.writer,
        len(good),
        len(good) - len(todo),
        len(todo),
        len(bad),
    )
    t0 = time.perf_counter()
    if todo:
        write, chunk = WRITERS[cfg.writer](cfg)
        with cache, tqdm(total=len(todo), unit="item", desc="write-mcq", smoothing=0.1) as bar:
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]

                def done(i: int, result: Result, part: list[dict] = part) -> None:
                    cache.add([_cache_row(part[i], *result)])
                    bar.update(1)

                write(part, done)
    wall = time.perf_counter() - t0
    return _finalise(out, good, bad, cache, len(todo), wall)


def _fp(record: dict) -> str:
    return fingerprint(record["caption"], record.get("scene"))


def _cache_row(record: dict, reply: str | None, reason: str | None) -> dict:
    row = {"key": record["id"], "fp": _fp(record), "ok": False, "reason": reason, "reply": reply}
    if reason is None:
        try:
            row.update(ok=True, reason=None, mcq=parse_mcq(reply))
        except ParseError as e:
            row.update(reason=e.reason, detail=str(e))
    return row


def _finalise(
    out: Path, good: list[dict], bad: list[dict], cache: ItemCache, attempted: int, wall: float
) -> dict:
    items, failed = [], []
    for r in good:
        rec = cache.records.get(r["id"])
        if cache.done(r["id"], _fp(r)):
            items.append(
                {
                    "id": r["id"],
                    "source": r.get("source", ""),
                    "image": r["image"],
                    "caption": r["caption"],
                    **rec["mcq"],
                }
            )
        else:
            failed.append({"id": r["id"], "reason": rec["reason"] if rec else "not_attempted"})
    report = {
        "input": len(good) + len(bad),
        "bad_input": len(bad),
        "valid": len(good),
        "written": len(items),
        "failed": len(failed),
        "failed_by_reason": dict(Counter(f["reason"] for f in failed).most_common()),
        "failed_ids": failed,
        "bad_input_ids": bad,
        "kinds": dict(Counter(i["kind"] for i in items).most_common()),
    }
    atomic_write_jsonl(out / "mcq.jsonl", items)
    atomic_write_jsonl(out / "bad_input.jsonl", bad)
    atomic_write_json(out / "write_report.json", report)
    # Timings differ from run to run, so they go to a log of runs and leave the report reproducible.
    run = {
        "attempted": attempted,
        "wall_s": round(wall, 3),
        "items_per_s": round(attempted / wall, 2) if wall > 0 and attempted else None,
    }
    append_jsonl(out / "write_runs.jsonl", [run])
    log.info(
        "write-mcq: %d written, %d failed %s, %d bad input; %s items/s this run",
        len(items),
        len(failed),
        report["failed_by_reason"],
        len(bad),
        run["items_per_s"],
    )
    return {**report, "run": run}
