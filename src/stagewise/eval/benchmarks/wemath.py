"""We-Math (testmini): the four-dimensional metric (IK / IG / CM / RM, strict and loose) and step accuracy.

Official rule (We-Math/We-Math, evaluation/): the answer is the text after the last "Answer", with `<>:.` and
blanks removed, and only its first character, if it is one of A-H. Each problem has one-step sub-questions
(`2steps_1`, `2steps_2`, ...) and the composite question (`2steps_multi`), joined by `ID`.
Modes: `official`; `boxed` (the shared verifier's choice letter, for think/boxed models); `vlmevalkit` (as
VLMEvalKit replaces the rule: an option letter, else the one option whose text the answer contains, else an
LLM option matcher when a judge is configured). The per-domain scores
need `knowledge_structure_nodes.json` beside the annotation file (as in the We-Math repository).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from stagewise.data.prompts import load_prompt
from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import (
    Generation,
    acc,
    base_dir,
    image_ref,
    need,
    numbered,
    read_records,
)
from stagewise.rewards.verify import extract_choice

HUB_ID, SPLIT = "We-Math/We-Math", "testmini"
MODES = ("official", "boxed", "vlmevalkit")
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
JUDGE_PROMPT = "judge_option_match"
_OPTION = re.compile(r"(?:^|;)\s*([A-H])\.\s*")
_STRIP = re.compile(r"[><:.]")


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    recs = read_records(source, split=SPLIT, limit=limit)
    domains = (
        _domains(Path(source).parent / "knowledge_structure_nodes.json") if Path(source).is_file() else {}
    )
    base = base_dir(source, images)
    rows = []
    for _, r, where in numbered(recs, limit, source):
        key = need(r, "key", where)
        if not re.fullmatch(r"[23]steps_(\d|multi)", key):
            raise DataError(f"{where}: field 'key' is {key!r}, expected like 2steps_1 or 3steps_multi")
        concept = need(r, "knowledge concept", where)
        rows.append(
            {
                "id": f"{need(r, 'ID', where)}:{key}",
                "problem": r["ID"],
                "key": key,
                "steps": int(key[0]),
                "part": key.split("_")[1],
                "question": need(r, "question", where),
                "option": need(r, "option", where),
                "answer": need(r, "answer", where),
                "concept": concept,
                "domain": domains.get(concept),
                "images": [
                    x for x in [image_ref(r.get("image") or r.get("image_path"), base)] if x is not None
                ],
            }
        )
    return rows


def _domains(nodes_file: Path) -> dict[str, str]:
    """knowledge concept -> its second-level domain (root2), from knowledge_structure_nodes.json."""
    if not nodes_file.exists():
        return {}
    return {n["full node"].split("_")[-1]: n["root2"] for n in json.loads(nodes_file.read_text())}


def prompt(row: dict) -> str:
    return load_prompt("wemath").format(question=row["question"], option=row["option"])


def official_extract(response: str) -> str | None:
    text = _STRIP.sub("", response.split("Answer")[-1].strip()).strip()
    return text[0] if text and text[0] in "ABCDEFGH" else None


def options(row: dict) -> dict[str, str]:
    """ "A. 300;B. 400; E. No correct answer" -> {"A": "300", ...}."""
    parts = _OPTION.split(row["option"])
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def option_by_text(text: str, row: dict) -> str | None:
    """The only option whose text appears in the answer (VLMEvalKit's can_infer_text), else None."""
    lowered = text.lower()
    hits = [k for k, v in options(row).items() if v and v.lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    if mode == "official":
        return official_extract(text)
    letter = extract_choice(text, 8)
    return letter if letter or mode == "boxed" else option_by_text(text, row)


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    """Only the `vlmevalkit` mode asks the judge, and only when the rules find no option."""
    found = extract(text, row, mode)
    if found is not None or mode != "vlmevalkit":
        return {"extracted": found}
    reply = ask(JUDGE_PROMPT, question=row["question"], options=row["option"], answer=text).strip()
    letter = reply[:1].upper() if reply else ""
    return {"extracted": letter if letter in options(row) else None, "judge_reply": reply}


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"]}


def _pct(x: float) -> float:
    return 100.0 * x


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    # problem id -> {"1": bool, "2": bool, ..., "multi": bool}; problems are anchored on their first step,
    # as the official left joins are.
    by_problem: dict[tuple[int, str], dict[str, bool]] = defaultdict(dict)
    for row, res in zip(rows, results, strict=True):
        by_problem[(row["steps"], row["problem"])][row["part"]] = bool(res["correct"])
    counts = dict.fromkeys(("IK", "IG", "CM_strict", "CM_loose", "RM_strict", "RM_loose"), 0)
    step_acc: dict[int, list[int]] = {2: [0, 0], 3: [0, 0]}
    one_step = [0, 0]
    for (steps, _), parts in by_problem.items():
        if "1" not in parts:
            continue
        subs = [parts.get(str(i)) for i in range(1, steps + 1)]
        multi = parts.get("multi")
        any_false, all_false = any(s is False for s in subs), all(s is False for s in subs)
        any_true, all_true = any(s is True for s in subs), all(s is True for s in subs)
        counts["RM_loose"] += all_false and multi is True
        counts["RM_strict"] += any_false and multi is True
        counts["IG"] += all_true and multi is False
        counts["IK"] += any_false and multi is False
        counts["CM_loose"] += any_true and multi is True
        counts["CM_strict"] += all_true and multi is True
        if multi is not None:
            step_acc[steps][0] += multi
            step_acc[steps][1] += 1
        for s in subs:
            if s is not None:
                one_step[0] += s
                one_step[1] += 1
    n = sum(1 for parts in by_problem.values() if "1" in parts)

    def final(rm: int) -> float:
        return _pct((n - 0.5 * counts["IG"] - rm - counts["IK"]) / n) if n else 0.0

    def rm_rate(kind: str) -> float:
        denom = counts[f"CM_{kind}"] + counts[f"RM_{kind}"]
        return _pct(counts[f"RM_{kind}"] / denom) if denom else 0.0

    return {
        "score_strict": final(counts["RM_strict"]),
        "score_loose": final(counts["RM_loose"]),
        "problems": n,
        "counts": counts,
        "rates": {
            "IK": _pct(counts["IK"] / n) if n else 0.0,
            "IG": _pct(counts["IG"] / n) if n else 0.0,
            "CM_strict": _pct(counts["CM_strict"] / n) if n else 0.0,
            "CM_loose": _pct(counts["CM_loose"] / n) if n else 0.0,
            "RM_strict": rm_rate("strict"),
            "RM_loose": rm_rate("loose"),
        },
        "one_step": acc(*one_step),
        "two_step": acc(*step_acc[2]),
        "three_step": acc(*step_acc[3]),
        "all_items": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "domains": _domain_scores(rows, results),
    }


def _domain_scores(rows: list[dict], results: list[dict]) -> dict:
    """Official: accuracy per knowledge concept over one-step questions, then the mean over each domain."""
    per_concept: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    domain_of = {}
    for row, res in zip(rows, results, strict=True):
        if row["part"] != "multi" and row["domain"]:
            per_concept[row["concept"]][0] += bool(res["correct"])
            per_concept[row["concept"]][1] += 1
            domain_of[row["concept"]] = row["domain"]
    by_domain: dict[str, list[float]] = defaultdict(list)
    for concept, (c, t) in per_concept.items():
        by_domain[domain_of[concept]].append(c / t)
    return {d: _pct(sum(v) / len(v)) for d, v in sorted(by_domain.items())}
