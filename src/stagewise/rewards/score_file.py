"""`stagewise reward score FILE.jsonl --mode MODE --out OUT.jsonl`: a reward mode on your own completions.

In: one JSON object per line, `{"id", "response", "answer"}` (optionally `answer_kind`: choice, number or
expression; stagewise mode infers it from the answer otherwise). Out: `{"id", "overall", "format", "accuracy",
"extracted", "reason"}` per line, in input order, and a summary on stdout. So a reward can be checked on a
model's real outputs before GPU hours are spent training on it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.rewards.reward import REWARD_MODES, score_responses
from stagewise.rewards.verify import ANSWER_KINDS, DEFAULT_TIMEOUT_S
from stagewise.utils import atomic_write_jsonl

log = logging.getLogger(__name__)


def read_rows(path: Path) -> list[dict]:
    """The rows of a completions file; a DataError names the file, line and field of the first bad one."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from e
    rows, seen = [], set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for field in ("id", "response", "answer"):
            if field not in row:
                raise DataError(f"{where}: missing field {field!r}")
        if not isinstance(row["response"], str):
            raise DataError(
                f"{where}: field 'response' must be a string, got {type(row['response']).__name__}"
            )
        if row["answer"] is not None and not isinstance(row["answer"], str | int | float):
            raise DataError(
                f"{where}: field 'answer' must be a string or number, got {type(row['answer']).__name__}"
            )
        kind = row.get("answer_kind")
        if kind is not None and kind not in (*ANSWER_KINDS, "math"):
            raise DataError(
                f"{where}: field 'answer_kind' is {kind!r}; expected one of {', '.join(ANSWER_KINDS)}"
            )
        key = json.dumps(row["id"])
        if key in seen:
            raise DataError(f"{where}: field 'id' {row['id']!r} appears twice")
        seen.add(key)
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def score_file(
    path: str | Path,
    mode: str,
    out: str | Path,
    *,
    training: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict]:
    """Score a completions file under a reward mode into `out`; returns the output rows."""
    rows = read_rows(Path(path))
    golds = [None if r["answer"] is None else str(r["answer"]) for r in rows]
    kinds = [r.get("answer_kind") for r in rows]
    scored = score_responses(
        [r["response"] for r in rows], golds, mode, kinds, training=training, timeout_s=timeout_s
    )
    result = [{"id": r["id"], **asdict(s)} for r, s in zip(rows, scored, strict=True)]
    atomic_write_jsonl(Path(out), result)
    return result


def summary(result: list[dict], mode: str) -> str:
    n = len(result)
    graded = [r["accuracy"] for r in result if r["accuracy"] is not None]
    lines = [
        f"{n} responses, reward mode {mode}: overall {sum(r['overall'] for r in result) / n:.4f}, "
        f"format {sum(r['format'] for r in result) / n:.4f}, accuracy "
        + (f"{sum(graded) / len(graded):.4f} ({len(graded)} with a gold answer)" if graded else "n/a")
    ]
    for reason, count in Counter(r["reason"] for r in result).most_common():
        lines.append(f"  {reason}: {count}")
    return "\n".join(lines) + "\n"


def cmd_reward_score(args) -> int:
    result = score_file(args.file, args.mode, args.out, training=not args.eval, timeout_s=args.timeout)
    sys.stdout.write(summary(result, args.mode))
    log.info("wrote %s", args.out)
    return 0


def add_reward_commands(sub) -> None:
    """`stagewise reward score ...`."""
    r = sub.add_parser("reward", help="check a reward mode on your own completions")
    rsub = r.add_subparsers(dest="reward_command", required=True)
    s = rsub.add_parser(
        "score",
        help="score {id, response, answer} JSONL rows -> {id, overall, format, accuracy, extracted, reason}",
    )
    s.add_argument("file", help="JSONL completions: id, response, answer (optional answer_kind)")
    s.add_argument(
        "--mode", default="stagewise", choices=REWARD_MODES, help="reward mode (recipe `reward.mode`)"
    )
    s.add_argument("--out", required=True, help="output JSONL, one row per input row, same order")
    s.add_argument(
        "--eval",
        action="store_true",
        help="stagewise mode: also read an <answer> tag or 'the answer "
        "is X' (evaluation extraction); training credits a boxed answer only",
    )
    s.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per symbolic comparison (a safety net; a comparison past it scores 0)",
    )
    s.set_defaults(func=cmd_reward_score)
