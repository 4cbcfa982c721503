"""The perception-sensitive filter: keep an item only if every filter model gets it wrong from the image alone
and right from the caption alone (the paper's rule: what the model fails at is *seeing*, not the question).

Per item and model: one greedy pass with the image and no caption, one with the caption and no image, at most
8 new tokens; the letter is taken from `answer: X`, else the first standalone A-D. An empty extraction from
the image is *not* wrong. With `samples > 1` each pass is sampled k times and the rule becomes pass-rate
thresholds (`min_image_wrong`, `min_caption_right`); k = 1 with both at 1.0 is the paper's rule.

Files in `out_dir`: `filter.cache.jsonl` (+ `.spec.json`) per (model, item) while running; then, atomically,
`kept.jsonl`, `filter_items.jsonl` (every item with its decision) and `filter_report.json|md`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tqdm import tqdm

from stagewise.data.perception.cache import ItemCache, fingerprint
from stagewise.data.perception.parse import mcq_text
from stagewise.data.perception.rule import FilterRule
from stagewise.data.prompts import load_prompt
from stagewise.endpoint import ChatClient, EndpointConfig, EndpointError, image_part
from stagewise.utils import append_jsonl, atomic_write_json, atomic_write_jsonl, atomic_write_text

log = logging.getLogger(__name__)

_ANSWER_RE = re.compile(r"answer\s*:\s*\(?([A-Da-d])(?![A-Za-z])", re.IGNORECASE)
_LETTER_RE = re.compile(r"(?<![A-Za-z])([A-D])(?![A-Za-z])")


def filter_letter(text: str | None) -> str | None:
    """The paper's extraction: the letter after `answer:`, else the first standalone A-D, else None."""
    if not text:
        return None
    m = _ANSWER_RE.search(text) or _LETTER_RE.search(text)
    return m.group(1).upper() if m else None


def boxed_letter(text: str | None) -> str | None:
    """For models trained to think first (the demo's base): the letter in the final answer (`\\boxed{}`, an
    answer tag or "the answer is"), as training grades it; None when there is no final answer."""
    from stagewise.rewards import extract_answer, extract_choice

    return extract_choice(extract_answer(text or ""))


EXTRACTORS = {"paper": filter_letter, "boxed": boxed_letter}


@dataclass
class FilterModel:
    """One filter model: a transformers model (hub id or folder) or a model behind an endpoint."""

    name: str
    """Label in reports and the cache."""
    path: str = ""
    """Hub id or local folder (a transformers VLM); empty when `endpoint` is set."""
    endpoint: EndpointConfig | None = None
    """An OpenAI-compatible server serving a VLM (images are sent as data URLs)."""


@dataclass
class FilterConfig(FilterRule):
    """The filter's rule (`FilterRule`), the models it asks and how."""

    models: list[FilterModel] = field(default_factory=list)
    """Filter models; an item must pass every one of them (the paper: Qwen2.5-VL-7B and -32B)."""
    temperature: float = 1.0
    """Sampling temperature when `samples > 1`."""
    top_p: float = 1.0
    """Nucleus sampling when `samples > 1`."""
    batch_size: int = 16
    """Items per generation batch (local models)."""
    image_prompt: str = "filter_image"
    """Template for the image pass, with `{question}` (question and A-D option lines)."""
    caption_prompt: str = "filter_caption"
    """Template for the caption pass, with `{caption}` and `{question}`."""
    seed: int = 0
    """Seed for sampled passes."""

    @classmethod
    def from_rule(cls, rule: FilterRule, **settings) -> FilterConfig:
        """`rule`'s settings (e.g. a recipe's `perception_set` section), `settings` for the rest."""
        return cls(**{f.name: getattr(rule, f.name) for f in fields(FilterRule)}, **settings)


def image_prompt(cfg: FilterConfig, item: dict) -> str:
    return load_prompt(cfg.image_prompt).replace("{question}", mcq_text(item["question"], item["options"]))


def caption_prompt(cfg: FilterConfig, item: dict) -> str:
    return (
        load_prompt(cfg.caption_prompt)
        .replace("{caption}", item["caption"].strip())
        .replace("{question}", mcq_text(item["question"], item["options"]))
    )


# A runner answers a list of items for one model: calls done(i, {"image": [raw...], "caption": [raw...]}) or
# done(i, {"error": reason}) for each, in any order.
def local_runner(model: FilterModel, cfg: FilterConfig) -> Callable:
    import torch
    from PIL import Image

    from stagewise.eval.generate import generate
    from stagewise.models.load import load_for_inference

    net, processor = load_for_inference(model.path)  # on the GPU in bf16 when there is one
    sample = (
        {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p} if cfg.samples > 1 else {}
    )

    def run(items: list[dict], done: Callable[[int, dict], None]) -> None:
        for start in range(0, len(items), cfg.batch_size):
            chunk = list(enumerate(items[start : start + cfg.batch_size], start=start))
            images, ok = {}, []
            for i, it in chunk:
                try:
                    with Image.open(it["image"]) as im:
                        images[i] = im.convert("RGB")
                    ok.append((i, it))
                except Exception as e:  # a missing or broken image fails this item only
                    done(i, {"error": f"bad_image ({type(e).__name__})"})
            if not ok:
                continue
            torch.manual_seed(cfg.seed + start)
            k = cfg.samples
            img_rows = [
                {"prompt": [{"role": "user", "content": image_prompt(cfg, it)}], "images": [images[i]]}
                for i, it in ok
                for _ in range(k)
            ]
            cap_rows = [
                {"prompt": [{"role": "user", "content": caption_prompt(cfg, it)}], "images": []}
                for i, it in ok
                for _ in range(k)
            ]
            img_out = generate(net, processor, img_rows, max_new_tokens=cfg.max_new_tokens, **sample)
            cap_out = generate(net, processor, cap_rows, max_new_tokens=cfg.max_new_tokens, **sample)
            for j, (i, _) in enumerate(ok):
                done(
                    i,
                    {
                        "image": [g["response"] for g in img_out[j * k : (j + 1) * k]],
                        "caption": [g["response"] for g in cap_out[j * k : (j + 1) * k]],
                    },
                )

    return run


def endpoint_runner(model: FilterModel, cfg: FilterConfig) -> Callable:
    client = ChatClient(model.endpoint)
    temp = cfg.temperature if cfg.samples > 1 else 0.0

    def one(it: dict) -> dict:
        try:
            content = [image_part(it["image"]), {"type": "text", "text": image_prompt(cfg, it)}]
        except Exception as e:
            return {"error": f"bad_image ({type(e).__name__})"}
        try:
            kw = {"temperature": temp, "top_p": cfg.top_p, "max_tokens": cfg.max_new_tokens, "n": cfg.samples}
            return {
                "image": client.chat(content, **kw),
                "caption": client.chat(caption_prompt(cfg, it), **kw),
            }
        except EndpointError as e:
            return {"error": e.reason}

    def run(items: list[dict], done: Callable[[int, dict], None]) -> None:
        for i, result in client.each(one, items):
            done(i, result)

    return run


def _fp(item: dict) -> str:
    return fingerprint(item["image"], item["caption"], item["question"], item["options"])


def _decide(item: dict, rec: dict, cfg: FilterConfig) -> dict:
    gold, extract = item["answer"], EXTRACTORS[cfg.extraction]
    img = [extract(t) for t in rec["image"]]
    cap = [extract(t) for t in rec["caption"]]
    image_wrong = sum(x is not None and x != gold for x in img) / len(img)
    caption_right = sum(x == gold for x in cap) / len(cap)
    return {
        "image": img,
        "caption": cap,
        "image_wrong": image_wrong,
        "caption_right": caption_right,
        "image_empty": sum(x is None for x in img) / len(img),
        "keep": image_wrong >= cfg.min_image_wrong and caption_right >= cfg.min_caption_right,
    }


def _spec(cfg: FilterConfig) -> dict:
    spec = asdict(cfg)
    spec["prompts"] = [load_prompt(cfg.image_prompt), load_prompt(cfg.caption_prompt)]
    for m in spec["models"]:  # transport settings do not change an answer
        if m["endpoint"]:
            m["endpoint"] = {k: m["endpoint"][k] for k in ("base_url", "model")}
    spec.pop("batch_size")
    # Decided from the cached raw replies: a rerun may change these without asking any model again.
    for k in ("extraction", "min_image_wrong", "min_caption_right"):
        spec.pop(k)
    return spec


def read_items(path: str | Path) -> list[dict]:
    """Items from `mcq.jsonl` (or the folder holding it)."""
    path = Path(path)
    path = path / "mcq.jsonl" if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no items (run `stagewise data write-mcq` first)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_filter(items: list[dict], out_dir: str | Path, cfg: FilterConfig, fresh: bool = False) -> dict:
    """Ask every filter model about every item (cached per model and item), decide, write kept items +
    report."""
    if not cfg.models:
        raise ValueError("the filter needs at least one filter model")
    if cfg.extraction not in EXTRACTORS:
        raise ValueError(f"extraction must be one of {', '.join(EXTRACTORS)}, got {cfg.extraction!r}")
    if len({m.name for m in cfg.models}) != len(cfg.models):
        raise ValueError("filter model names must be distinct")
    out = Path(out_dir)
    cache = ItemCache(out / "filter.cache.jsonl", _spec(cfg), fresh=fresh)
    runs = []
    for model in cfg.models:
        todo = [it for it in items if not cache.done(f"{model.name}\t{it['id']}", _fp(it))]
        log.info(
            "filter %s: %d items, %d cached, %d to ask",
            model.name,
            len(items),
            len(items) - len(todo),
            len(todo),
        )
        if not todo:
            continue
        t0 = time.perf_counter()
        run = (endpoint_runner if model.endpoint else local_runner)(model, cfg)
        with cache, tqdm(total=len(todo), unit="item", desc=f"filter {model.name}", smoothing=0.1) as bar:

            def done(i: int, res: dict, name: str = model.name, todo: list[dict] = todo) -> None:
                key = f"{name}\t{todo[i]['id']}"
                cache.add([{"key": key, "fp": _fp(todo[i]), "ok": "error" not in res, **res}])
                bar.update(1)

            run(todo, done)
        wall = time.perf_counter() - t0
        runs.append(
            {
                "model": model.name,
                "asked": len(todo),
                "wall_s": round(wall, 3),
                "items_per_s": round(len(todo) / wall, 2),
            }
        )
        log.info("filter %s: %.2f items/s", model.name, len(todo) / wall)
    report = _finalise(out, items, cache, cfg)
    append_jsonl(out / "filter_runs.jsonl", runs)
    return {**report, "runs": runs}


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _finalise(out: Path, items: list[dict], cache: ItemCache, cfg: FilterConfig) -> dict:
    names = [m.name for m in cfg.models]
    rows, kept, failed = [], [], []
    stats = {n: defaultdict(float) for n in names}
    kinds: dict[str, dict] = defaultdict(lambda: {"n": 0, "kept": 0, **{n: 0 for n in names}})
    for it in items:
        per_model, reasons = {}, []
        for n in names:
            rec = cache.records.get(f"{n}\t{it['id']}")
            if not cache.done(f"{n}\t{it['id']}", _fp(it)):
                reasons.append(f"{n}: {rec.get('error', 'stale') if rec else 'not_asked'}")
                continue
            d = per_model[n] = _decide(it, rec, cfg)
            s = stats[n]
            s["n"] += 1
            s["image_wrong"] += d["image_wrong"]
            s["image_empty"] += d["image_empty"]
            s["caption_right"] += d["caption_right"]
            s["keep"] += d["keep"]
            kinds[it["kind"]][n] += d["keep"]
        keep = not reasons and all(d["keep"] for d in per_model.values())
        if reasons:
            failed.append({"id": it["id"], "reasons": reasons})
        kinds[it["kind"]]["n"] += 1
        kinds[it["kind"]]["kept"] += keep
        row = {**it, "filter": per_model, "keep": keep}
        rows.append(row)
        if keep:
            kept.append(row)
    report = {
        "items": len(items),
        "kept": len(kept),
        "keep_rate": _rate(len(kept), len(items)),
        "failed": len(failed),
        "rule": {
            k: getattr(cfg, k)
            for k in ("samples", "max_new_tokens", "extraction", "min_image_wrong", "min_caption_right")
        },
        "per_model": {
            n: {
                "n": int(s["n"]),
                "keep_rate": _rate(s["keep"], s["n"]),
                "image_wrong_rate": _rate(s["image_wrong"], s["n"]),
                "image_empty_rate": _rate(s["image_empty"], s["n"]),
                "caption_right_rate": _rate(s["caption_right"], s["n"]),
            }
            for n, s in stats.items()
        },
        "per_kind": {
            k: {
                "n": v["n"],
                "kept": v["kept"],
                "keep_rate": _rate(v["kept"], v["n"]),
                "keep_rate_per_model": {n: _rate(v[n], v["n"]) for n in names},
            }
            for k, v in sorted(kinds.items())
        },
        "failed_ids": failed,
    }
    atomic_write_jsonl(out / "filter_items.jsonl", rows)
    atomic_write_jsonl(out / "kept.jsonl", kept)
    atomic_write_json(out / "filter_report.json", report)
    atomic_write_text(out / "filter_report.md", report_markdown(report))
    log.info(
        "filter: kept %d of %d (%.1f%%), %d failed",
        len(kept),
        len(items),
        100 * (report["keep_rate"] or 0),
        len(failed),
    )
    return report


def report_markdown(report: dict) -> str:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}"

    lines = [
        f"Kept {report['kept']} of {report['items']} items ({pct(report['keep_rate'])}%); "
        f"{report['failed']} failed.",
        "",
        "| model | n | image wrong % | image empty % | caption right % | keep % |",
        "|---|---|---|---|---|---|",
    ]
    for n, s in report["per_model"].items():
        lines.append(
            f"| {n} | {s['n']} | {pct(s['image_wrong_rate'])} | {pct(s['image_empty_rate'])} | "
            f"{pct(s['caption_right_rate'])} | {pct(s['keep_rate'])} |"
        )
    lines += ["", "| question kind | n | kept | keep % (all models) |", "|---|---|---|---|"]
    for k, v in report["per_kind"].items():
        lines.append(f"| {k} | {v['n']} | {v['kept']} | {pct(v['keep_rate'])} |")
    return "\n".join(lines) + "\n"


def model_from_spec(spec: str, **endpoint_kw) -> FilterModel:
    """`path/or/hub-id`, `name=path`, or `MODEL@http://host:port/v1` (an endpoint; `endpoint_kw` go to
    EndpointConfig, e.g. api_key_env, concurrency, timeout_s)."""
    name, _, rest = spec.partition("=") if "=" in spec.split("@")[0] else ("", "", spec)
    if "@http://" in rest or "@https://" in rest:
        model, _, url = rest.partition("@")
        return FilterModel(name or model, endpoint=EndpointConfig(base_url=url, model=model, **endpoint_kw))
    return FilterModel(name or Path(rest).name or rest, path=rest)
