"""MATH-Vision (MATH-V): the official rule-based scorer (mathllm/MATH-V, evaluation/evaluate.py and utils.py).

The response is cut to its final answer (a trailing option letter, "the answer is ...", the last \\boxed{}),
LaTeX is normalised, and it is correct if it equals the gold answer or the gold option's text, exactly, as a
tuple, or
numerically to two decimals. Breakdowns by level and subject.
"""

from __future__ import annotations

import re
from pathlib import Path

from stagewise.data.prompts import load_prompt
from stagewise.eval.benchmarks.common import (
    Generation,
    base_dir,
    breakdown,
    image_ref,
    letters,
    need,
    numbered,
    overall,
    read_records,
)
from stagewise.rewards.verify import call_killable

HUB_ID, SPLIT = "MathLLMs/MathVision", "testmini"
MODES = ("official",)
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    recs = read_records(source, split=SPLIT, limit=limit)  # --limit reads only what it scores
    base = base_dir(source, images)
    rows = []
    for _, r, where in numbered(recs, limit, source):
        options = r.get("options") or []
        rows.append(
            {
                "id": str(need(r, "id", where, (str, int))),
                "question": need(r, "question", where),
                "options": list(options),
                "answer": str(need(r, "answer", where, (str, int, float))),
                "level": r.get("level"),
                "subject": r.get("subject"),
                "images": [
                    x for x in [image_ref(r.get("decoded_image") or r.get("image"), base)] if x is not None
                ],
            }
        )
    return rows


def prompt(row: dict) -> str:
    """The official input (models/GPT4V.py): the boxed instruction, the question, then options unless they are
    just the letters A-E (the choices are in the image)."""
    options = ""
    if row["options"] and "".join(row["options"]) != "ABCDE":
        options = "".join(
            f"({a}) {o}\n" for a, o in zip(letters(len(row["options"])), row["options"], strict=True)
        )
    return f"{load_prompt('mathvision')}\n{row['question']}\n{options}"


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def official_answer(response: str) -> str:
    """evaluate.py's cut of a response to its final answer."""
    ans = response.strip()
    for c in "ABCDE":
        if (
            ans.endswith(f" {c}.")
            or ans.endswith(f" ({c}).")
            or ans.startswith(f"{c}\n")
            or ans.startswith(f"({c})\n")
            or ans.startswith(f"({c}) {c}\n")
        ):
            ans = c
    if _is_number(ans.split("is ")[-1].rstrip(".")):
        ans = ans.split("is ")[-1].rstrip(".")
    if "oxed{" not in ans:
        for flag in ("the final answer is", "the answer is", "the correct answer is", "the answer should be"):
            for f in (flag, flag.replace("the", "The")):
                raw = ans
                ans = ans.split(f)[-1].strip()
                if f in raw:
                    ans = ans.split("\n")[0].split(". ")[0]
    elif ans.count("oxed{") > 1:
        ans = "\\boxed{" + ans.split("oxed{")[-1]
    ans = find_math_answer(ans)
    for c in "abcde":
        ans = ans.replace(f"({c})", c).replace("{" + c + "}", c)
    return ans.rstrip(".").lstrip(":").strip()


def find_math_answer(s: str) -> str:
    s = s.lower().replace("{}", "")
    found = re.findall("oxed{(.*)}", s, flags=re.S)
    ans = found[-1] if found else s
    if ans.find("}") != -1 and (ans.find("{") == -1 or ans.find("}") < ans.find("{")):
        ans = ans.split("}")[0]
    ans = ans.split("=")[-1].split("\\approx")[-1]
    for a, b in (
        (" ", ""),
        ("\\,", ""),
        ("∞", "\\infty"),
        ("+\\infty", "\\infty"),
        ("\\\\", "\\"),
        ("\n", ""),
        ("\\text", ""),
        ("\\mbox", ""),
        ("bmatrix", "pmatrix"),
        ("\\left", ""),
        ("\\right", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("{m}^3", ""),
        ("m^3", ""),
        ("{units}", ""),
        ("units", ""),
        ("{km}", ""),
        ("km", ""),
    ):
        ans = ans.replace(a, b)
    return _strip_string(ans)


def _strip_string(s: str) -> str:
    for a, b in (
        ("\n", ""),
        ("\\!", ""),
        ("\\\\", "\\"),
        ("tfrac", "frac"),
        ("dfrac", "frac"),
        ("\\left", ""),
        ("\\right", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\$", ""),
        ("$", ""),
    ):
        s = s.replace(a, b)
    s = s.split("\\text{ ")[0]
    s = s.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    if len(s.split("=")) == 2:
        s = s.split("=")[-1]
    if len(s.split("\\approx")) == 2:
        s = s.split("\\approx")[-1]
    if "sqrt" in s:
        s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = s.replace(" ", "")
    if s == "0.5":
        s = "\\frac{1}{2}"
    if m := re.fullmatch(r"(-?\d+)/(-?\d+)", s):
        s = f"\\frac{{{int(m.group(1))}}}{{{int(m.group(2))}}}"
    return s


def _value(text: str) -> float:
    from latex2sympy2_extended import latex2sympy

    # latex2sympy2 (the official parser) reads a braced group "{3}" as its content; the extended fork keeps it
    if text.startswith("{") and text.endswith("}") and text.count("{") == 1:
        text = text[1:-1]
    return round(float(latex2sympy(text).evalf()), 2)


def _eval_tuple(s: str) -> str:
    parts = s[1:-1].split(",")
    if len(s) > 1 and s[0] + s[-1] in ("()", "[]") and len(parts) > 1:
        try:
            vals = [p if "infty" in p or p in ("a", "-a") else str(_value(p)) for p in parts]
            return s[0] + ",".join(vals) + s[-1]
        except Exception:
            return s
    return s


def is_equal(pred: str, gold: str) -> bool:
    """utils.is_equal: exact (lower-cased), tuple-wise, or equal values to two decimals."""
    pred, gold = pred.lower(), gold.lower()
    if not pred.replace(" ", "") or not gold.replace(" ", ""):
        return False
    if gold.strip() == pred.strip():
        return True
    try:  # latex2sympy can run away on model output: in a child process that is killed after 10 s
        return bool(call_killable(f"{__name__}:_equal_values", pred, gold, timeout_s=10.0))
    except (TimeoutError, RuntimeError):
        return False


def _equal_values(pred: str, gold: str) -> bool:
    pred_t, gold_t = _eval_tuple(pred), _eval_tuple(gold)
    if pred_t == gold_t:
        return True
    try:
        return _value(gold_t) == _value(pred_t)
    except Exception:
        return False


def extract(text: str, row: dict, mode: str = "official") -> str:
    return official_answer(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    pred = "" if extracted is None else str(extracted)
    gold = row["answer"]
    gold_value = row["options"][ord(gold) - ord("A")] if row["options"] and len(gold) == 1 else ""
    return {"correct": is_equal(pred, gold) or is_equal(pred, str(gold_value))}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    return {
        "overall": overall(results),
        "levels": breakdown(rows, results, lambda r: r["level"]),
        "subjects": breakdown(rows, results, lambda r: r["subject"]),
    }
