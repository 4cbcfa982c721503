"""VisOnlyQA (Eval-Real, Eval-Synthetic): geometric perception of scientific figures; accuracy per subset.

Shared by `visonlyqa_real` and `visonlyqa_synthetic` (the two benchmarks the paper reports); not itself
listed. Official pipeline (psunlpgroup/VisOnlyQA, src/evaluation/evaluation.py, metrics.py): the prompt is the
row's `prompt_no_reasoning` (the script's default); for a single-answer question the options are looked for as
substrings of the raw response, first as "(option)" then bare, and exactly one found is the answer; otherwise
GPT-4o extracts it (src/prompts/prompts.py: the options for a single answer, "a,b"-style letters for multiple
answers, spaces removed from its reply). For a single answer the reading is then the first option contained in
it; a row is correct when it equals the gold answer exactly ("a,c" for multiple answers).

The official code has no rule for multiple-answer questions (its rule for them is commented out as unreliable,
and the authors' own VLMEvalKit version leaves `chemistry__shape_multi`, the one multiple-answer subset, out).
So without a judge such a row has no answer and counts wrong (the rule-based path; `metrics` counts them under
`unread_multiple_answers`). With `--judge-url` the judge is the official extractor: `judge` asks it exactly
where the official script asks GPT-4o, with the official prompts (`prompts/judge_visonlyqa*.txt`).
"""

from __future__ import annotations

from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, acc, base_dir, image_ref, need, read_records

MODES = ("official",)
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
PROMPT_FIELD = "prompt_no_reasoning"
JUDGE_PROMPT, JUDGE_PROMPT_MULTIPLE = "judge_visonlyqa", "judge_visonlyqa_multiple"


def load_subsets(
    hub_id: str,
    subsets: tuple[str, ...],
    source: str | Path,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    """Rows of every subset (on the hub: one split each, `limit` per subset), or those named in `subset`. A
    local source is a JSONL/JSON/parquet file or a folder of the authors' `<subset>.jsonl` files."""
    wanted = [s.strip() for s in subset.split(",")] if subset else list(subsets)
    unknown = [s for s in wanted if s not in subsets]
    if unknown:
        raise ValueError(f"unknown subset(s) {', '.join(unknown)} (subsets: {', '.join(subsets)})")
    path = Path(str(source))
    if str(source) == hub_id:
        parts = [(s, f"{source}:{s}", read_records(source, split=s, limit=limit)) for s in wanted]
    elif path.is_dir() and any(path.glob("*.jsonl")):
        parts = [
            (s, str(path / f"{s}.jsonl"), read_records(path / f"{s}.jsonl", limit=limit))
            for s in wanted
            if (path / f"{s}.jsonl").exists()
        ]
    else:
        parts = [(None, str(source), read_records(source))]
    base = base_dir(source, images)
    rows, counts = [], dict.fromkeys(wanted, 0)
    for name, where_file, recs in parts:
        for i, r in enumerate(recs):
            where = f"{where_file}: row {i}"
            split = name or f"{need(r, 'image_category', where)}__{need(r, 'task_category', where)}"
            if split not in counts or (limit and counts[split] >= limit):
                continue
            options = list(need(r, "response_options", where, (list,)))
            qtype = need(r, "question_type", where)
            if qtype not in ("single_answer", "multiple_answers"):
                raise DataError(
                    f"{where}: field 'question_type' is {qtype!r}, expected single_answer or multiple_answers"
                )
            counts[split] += 1
            rows.append(
                {
                    "id": str(r.get("id", f"{split}-{i}")),
                    "subset": split,
                    "prompt": need(r, PROMPT_FIELD, where),
                    "answer": need(r, "answer", where),
                    "options": options,
                    "question_type": qtype,
                    "images": [
                        x
                        for x in [image_ref(r.get("decoded_image") or r.get("image_path"), base)]
                        if x is not None
                    ],
                }
            )
    return rows


def prompt(row: dict) -> str:
    return row["prompt"]


def rule(response: str, options: list[str], question_type: str) -> str | None:
    """The official easy-case reading; None where the official code asks its judge."""
    if question_type != "single_answer":
        return None
    for form in ("({})", "{}"):
        found = [o for o in options if form.format(o) in response]
        if len(found) == 1:
            return found[0]
    return None


def first_option(found: str, options: list[str]) -> str:
    """The official post-step for a single answer: the first option contained in the reading."""
    return next((o for o in options if o in found), found)


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    found = rule(text, row["options"], row["question_type"])
    return None if found is None else first_option(found, row["options"])


def judge(text: str, row: dict, ask, mode: str = "official") -> dict:
    """The rule where it decides, else the judge extracts the answer as the official script's GPT-4o does."""
    found = rule(text, row["options"], row["question_type"])
    if found is not None:
        return {"extracted": first_option(found, row["options"])}
    if row["question_type"] == "single_answer":
        reply = ask(
            JUDGE_PROMPT, response_type=", ".join(row["options"]), question=row["prompt"], response=text
        )
        return {"extracted": first_option(reply.replace(" ", ""), row["options"]), "judge_reply": reply}
    reply = ask(JUDGE_PROMPT_MULTIPLE, response=text)
    return {"extracted": reply.replace(" ", ""), "judge_reply": reply}


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {"correct": extracted == row["answer"]}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    subsets: dict[str, list[bool]] = {}
    for row, res in zip(rows, results, strict=True):
        subsets.setdefault(row["subset"], []).append(bool(res["correct"]))
    return {
        "overall": acc(sum(bool(r["correct"]) for r in results), len(results)),
        "subsets": {s: acc(sum(v), len(v)) for s, v in subsets.items()},
        # rows the official code leaves to its LLM and no judge read: counted wrong
        "unread_multiple_answers": sum(
            row["question_type"] == "multiple_answers" and res.get("extracted") is None
            for row, res in zip(rows, results, strict=True)
        ),
    }
