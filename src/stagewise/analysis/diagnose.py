"""`stagewise diagnose`: was a wrong answer a failure of seeing or of thinking?

Three attributions of every wrongly answered item of an eval output (any per-item JSONL with `id`,
`response`, `correct`), joined by `id` with the data it was asked from:
- `oracle` (world items): the trace's observations checked against the scene graph (`analysis/oracle.py`);
- `probe`: the same model re-asked with a caption of the image in place of the image (`replace`) or beside it
  (`beside`); right with the caption means the image was the problem -> perception, else reasoning;
- `judge`: an LLM behind an OpenAI-compatible endpoint names the first error (`stagewise/judge.py`).
Output in the diagnosis folder: `diagnosis.jsonl` (per item, with each method's evidence), `summary.json`
(perception-error share per method overall and per benchmark/task; precision and recall of probe and judge
against the oracle), and the resumable caches `probe.jsonl` and `judge.jsonl`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

from stagewise.analysis.oracle import attribute
from stagewise.analysis.runs import read_jsonl
from stagewise.judge import JudgeConfig, judge_items
from stagewise.utils import append_jsonl, atomic_write_json, atomic_write_jsonl

log = logging.getLogger(__name__)
METHODS = ("oracle", "probe", "judge")


# ------------------------------------------------------------------------------------------------- data
def load_data(path: str | Path) -> dict[str, dict]:
    """id -> data row (problem, answer, caption, scene, images as PIL) from a world folder (every
    `<family>/test` dataset in it), one HF dataset folder, or a JSONL file in the paper's schema."""
    from stagewise.data.sources import load_rows

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data not found: {path}")
    sources = sorted(p.parent for p in path.glob("*/test/dataset_info.json")) or [path]
    out = {}
    for src in sources:
        for r in load_rows(src):
            out[str(r["id"])] = {**r, "family": r.get("family") or src.parent.name}
    return out


def question_text(row: dict) -> str:
    return str(row["problem"]).replace("<image>", "").strip()


def _statement(row: dict) -> str | None:
    """The scene in the words the textual stage trains on ("A box holds 2 red circles ...")."""
    from stagewise.world.scene import Scene
    from stagewise.world.tasks import _statement as statement

    return statement(Scene.from_dict(json.loads(row["scene"]))) if row.get("scene") else None


# Caption sources for the probe, name -> row -> text (None: the row has none).
CAPTIONS = {
    "caption": lambda row: row.get("caption") or None,
    "statement": _statement,
}


# ------------------------------------------------------------------------------------------------ probe
def probe_rows(
    items: list[dict], data: dict[str, dict], captions: dict[str, str], mode: str, instruction: str | None
) -> list[dict]:
    """Generation rows: the question with the caption in place of the image (`replace`) or beside it."""
    from stagewise.data.prompts import load_prompt
    from stagewise.rewards import infer_kind

    if mode not in ("replace", "beside"):
        raise ValueError(f"probe mode must be replace or beside, got {mode!r}")
    rows = []
    for it in items:
        d = data[it["id"]]
        text = f"{captions[it['id']]}\n{question_text(d)}"
        if instruction:
            text += "\n" + load_prompt(instruction)
        rows.append(
            {
                "id": it["id"],
                "prompt": [{"role": "user", "content": text}],
                "images": list(d.get("images") or []) if mode == "beside" else [],
                "answer": str(d["answer"]),
                "answer_kind": d.get("answer_kind") or infer_kind(str(d["answer"])),
            }
        )
    return rows


def write_captions(
    model,
    processor,
    items: list[dict],
    data: dict[str, dict],
    prompt: str = "caption",
    max_new_tokens: int = 128,
) -> dict[str, str]:
    """Captions written by a captioning model for items whose data has none (one greedy pass each)."""
    from stagewise.data.prompts import load_prompt
    from stagewise.eval.generate import generate

    rows = [
        {"prompt": [{"role": "user", "content": load_prompt(prompt)}], "images": data[i["id"]]["images"]}
        for i in items
        if data[i["id"]].get("images")
    ]
    gens = generate(model, processor, rows, max_new_tokens=max_new_tokens) if rows else []
    ids = [i["id"] for i in items if data[i["id"]].get("images")]
    return {i: g["response"] for i, g in zip(ids, gens, strict=True)}


def run_probe(
    model, processor, rows: list[dict], cache_path: Path, batch_size: int = 32, max_new_tokens: int = 128
) -> dict[str, dict]:
    """Greedy answers to the probe rows, appended to `cache_path` per batch (a rerun skips finished ids)."""
    from rich.progress import Progress

    from stagewise.eval.generate import generate
    from stagewise.rewards import extract_answer, grade
    from stagewise.utils import library_bars_off

    done = {r["id"]: r for r in read_jsonl(cache_path)} if cache_path.exists() else {}
    todo = [r for r in rows if r["id"] not in done]
    with library_bars_off(), Progress(transient=True) as progress:
        task = progress.add_task("caption probe", total=len(todo))
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            scored = []
            for group in ([r for r in batch if r["images"]], [r for r in batch if not r["images"]]):
                if not group:
                    continue
                for r, g in zip(
                    group, generate(model, processor, group, max_new_tokens=max_new_tokens), strict=True
                ):
                    pred = extract_answer(g["response"])
                    right = bool(grade(pred, r["answer"], r["answer_kind"]))
                    scored.append(
                        {
                            "id": r["id"],
                            "label": "perception" if right else "reasoning",
                            "evidence": f"given the caption it answered {pred!r}, "
                            f"{'right' if right else 'still wrong'} (gold {r['answer']!r})",
                            "response": g["response"],
                            "extracted": pred,
                            "correct": right,
                            "prompt": r["prompt"][0]["content"],
                        }
                    )
            append_jsonl(cache_path, scored)
            done |= {s["id"]: s for s in scored}
            progress.advance(task, len(batch))
    return {r["id"]: done[r["id"]] for r in rows}


# -------------------------------------------------------------------------------------------- summaries
def share(rows: list[dict], method: str) -> dict:
    """Perception share among the items the method could attribute (perception or reasoning)."""
    labels = [r[method]["label"] for r in rows if r.get(method)]
    p, q = labels.count("perception"), labels.count("reasoning")
    return {
        "n": len(labels),
        "perception": p,
        "reasoning": q,
        "unattributed": len(labels) - p - q,
        "perception_share": p / (p + q) if p + q else None,
    }


def agreement(rows: list[dict], method: str, reference: str = "oracle") -> dict:
    """Precision and recall of `method` for perception errors, taking `reference` as ground truth, on the
    items both attributed; `agreement` is the share of those items with the same label."""
    pairs = [(r[reference]["label"], r[method]["label"]) for r in rows if r.get(method) and r.get(reference)]
    pairs = [
        (t, m) for t, m in pairs if t in ("perception", "reasoning") and m in ("perception", "reasoning")
    ]
    tp = sum(t == m == "perception" for t, m in pairs)
    fp = sum(t == "reasoning" and m == "perception" for t, m in pairs)
    fn = sum(t == "perception" and m == "reasoning" for t, m in pairs)
    tn = sum(t == m == "reasoning" for t, m in pairs)
    return {
        "n": len(pairs),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "agreement": (tp + tn) / len(pairs) if pairs else None,
    }


def summarize(rows: list[dict], n_items: int, n_wrong: int, text_only: int) -> dict:
    methods = [m for m in METHODS if any(r.get(m) for r in rows)]
    groups: dict[str, dict[str, list[dict]]] = {"benchmark": defaultdict(list), "task": defaultdict(list)}
    for r in rows:
        groups["benchmark"][r["benchmark"]].append(r)
        groups["task"][f"{r['benchmark']}/{r['kind']}" if r["kind"] else r["benchmark"]].append(r)
    return {
        "items": n_items,
        "wrong": n_wrong,
        "diagnosed": len(rows),
        "text_only_wrong": text_only,
        "methods": methods,
        "overall": {m: share(rows, m) for m in methods},
        "by": {
            g: {k: {m: share(v, m) for m in methods} for k, v in sorted(d.items())} for g, d in groups.items()
        },
        "vs_oracle": {m: agreement(rows, m) for m in methods if m != "oracle"} if "oracle" in methods else {},
        "probe_vs_judge": agreement(rows, "probe", "judge") if {"probe", "judge"} <= set(methods) else None,
    }


# ----------------------------------------------------------------------------------------------- driver
def diagnose(
    items_path: str | Path,
    data: dict[str, dict],
    out_dir: str | Path,
    *,
    model=None,
    processor=None,
    judge: JudgeConfig | None = None,
    probe_mode: str = "replace",
    caption: str = "caption",
    captioner=None,
    instruction: str | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    max_new_tokens: int = 128,
) -> dict:
    """Attribute every wrong item of `items_path` with the oracle (where the data has scene graphs), the
    caption probe (when `model` is given) and the judge (when `judge` is given); writes and returns the
    summary. `captioner` = (model, processor) writes captions for items whose data has none."""
    items_path, out = Path(items_path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if caption not in CAPTIONS:
        raise ValueError(f"caption source must be one of {', '.join(CAPTIONS)}, got {caption!r}")
    items = read_jsonl(items_path)
    for i, it in enumerate(items, start=1):
        for key in ("id", "response", "correct"):
            if key not in it:
                raise ValueError(f"{items_path}:{i}: missing field {key!r}")
        if str(it["id"]) not in data:
            raise ValueError(f"{items_path}:{i}: id {it['id']!r} is not in the data given (field 'id')")
    wrong = [it for it in items if not it["correct"]]
    visual = [it for it in wrong if data[str(it["id"])].get("images")]  # text-only items have nothing to see
    text_only = len(wrong) - len(visual)
    visual = visual[:limit] if limit is not None else visual
    rows = []
    for it in visual:
        d = data[str(it["id"])]
        family = it.get("family") or d.get("family") or ""
        rows.append(
            {
                "id": it["id"],
                "benchmark": it.get("benchmark") or family,
                "family": family,
                "kind": it.get("kind") or d.get("kind") or "",
                "question": question_text(d),
                "answer": str(d["answer"]),
                "response": it["response"],
                "extracted": it.get("extracted"),
            }
        )

    if any(data[r["id"]].get("scene") for r in rows):
        from stagewise.world.scene import Scene

        for r in rows:
            scene = data[r["id"]].get("scene")
            r["oracle"] = attribute(r["response"], Scene.from_dict(json.loads(scene))) if scene else None

    captions = {r["id"]: CAPTIONS[caption](data[r["id"]]) for r in rows}
    missing = [r for r in rows if not captions[r["id"]]]
    if missing and captioner is not None:
        captions |= write_captions(*captioner, missing, data)
    if model is not None:
        probe_for = [r for r in rows if captions.get(r["id"])]
        if len(probe_for) < len(rows):
            log.warning(
                "caption probe: %d of %d items have no caption and are skipped",
                len(rows) - len(probe_for),
                len(rows),
            )
        prows = probe_rows(probe_for, data, captions, probe_mode, instruction)
        verdicts = run_probe(
            model,
            processor,
            prows,
            out / f"probe-{probe_mode}-{caption}.jsonl",
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
        )
        for r in rows:
            r["probe"] = verdicts.get(r["id"])
    if judge is not None:
        verdicts = judge_items(
            judge,
            [
                {
                    "id": r["id"],
                    "question": r["question"],
                    "gold": r["answer"],
                    "description": captions.get(r["id"]) or "",
                    "response": r["response"],
                }
                for r in rows
            ],
            out / "judge.jsonl",
        )
        for r in rows:
            r["judge"] = verdicts.get(r["id"])
    summary = summarize(rows, len(items), len(wrong), text_only)
    summary["config"] = {
        "items": str(items_path),
        "probe_mode": probe_mode if model is not None else None,
        "caption": caption,
        "judge_model": judge.model if judge else None,
    }
    atomic_write_jsonl(out / "diagnosis.jsonl", rows)
    atomic_write_json(out / "summary.json", summary)
    return summary


def diagnose_run(
    run_dir: str | Path,
    *,
    probe: bool = False,
    judge: JudgeConfig | None = None,
    probe_mode: str = "replace",
    caption: str = "caption",
    which: str = "final",
    **kwargs,
) -> dict:
    """Diagnose the evaluated models of a run (`final`: the base and each variant's last stage; `all`: every
    evaluated checkpoint) into `<eval dir>/diagnosis/`; returns label -> summary."""

    from stagewise.analysis.runs import scan_run
    from stagewise.analysis.traces import final_rows

    run_dir = Path(run_dir)
    layout = scan_run(run_dir)
    if not layout.evals:
        raise FileNotFoundError(f"{run_dir}: no evaluated model (no eval/*/items.jsonl)")
    if which == "final":
        finals = {
            r["model"]
            for r in final_rows(
                [
                    {"model": e.label, "variant": e.variant, "seed": e.seed, "position": e.position}
                    for e in layout.evals
                ]
            )
        }
        refs = [e for e in layout.evals if e.label in finals]
    else:
        refs = layout.evals
    data = load_data(run_dir / "data")
    instruction = _recipe_instruction(run_dir)
    out = {}
    for ref in refs:
        model = processor = None
        if probe:
            path = _model_path(run_dir, ref)
            if path is None:
                log.warning("%s: no model folder found; caption probe skipped", ref.label)
            else:
                from stagewise.models.load import load_for_inference

                model, processor = load_for_inference(path)  # on the GPU in bf16 when there is one
        log.info("diagnosing %s", ref.label)
        out[ref.label] = diagnose(
            ref.eval_dir / "items.jsonl",
            data,
            ref.eval_dir / "diagnosis",
            model=model,
            processor=processor,
            judge=judge,
            probe_mode=probe_mode,
            caption=caption,
            instruction=instruction,
            **kwargs,
        )
    return out


def _model_path(run_dir: Path, ref) -> Path | None:
    if ref.variant == "base":
        candidates = [run_dir / "base", run_dir / "init"]
    else:
        candidates = [run_dir / ref.variant / f"seed{ref.seed}" / ref.stage]
    return next((c for c in candidates if (c / "config.json").exists()), None)


def _recipe_instruction(run_dir: Path) -> str | None:
    """The instruction the run's evaluation appended to questions (the first stage's), so the probe asks
    alike."""
    import yaml

    path = run_dir / "recipe.yaml"
    if not path.exists():
        return "think_boxed"
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages") or []
    return (stages[0].get("data") or {}).get("instruction", "think_boxed") if stages else "think_boxed"
