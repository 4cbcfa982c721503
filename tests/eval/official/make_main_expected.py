"""Regenerates main_expected.json: the official scorers' own outputs on messy responses for the benchmarks
stagewise had before the extended suite (not run by the tests; see make_expected.py for the extended suite).

Each benchmark authors' scoring code is read from its repository at the commit below and run unchanged on the
responses made here: whole functions where the scorer has them, else the statements of its scoring loop taken
out of the script (the rest of each file needs GPUs, API keys or datasets). Where the official pipeline asks
an LLM (MathVista's and MathVerse's extraction, LogicVista's letter reader, HallusionBench's verdict), the
call is a stub returning "JUDGE" and the fixture records that the rules did not decide. RealWorldQA has no
official scorer (xAI released the data only), so it has no fixture.

    git clone https://github.com/We-Math/We-Math           # a57a0e8  evaluation/four_dimensional_metrics.py,
                                                           #          evaluation/accuracy.py
    git clone https://github.com/mathllm/MATH-V            # a1f5cc3  evaluation/evaluate.py,
                                                           #          evaluation/utils.py
    git clone https://github.com/ZrrSkywalker/MathVerse    # 937b090  evaluation/score_answer_s2.py
    git clone https://github.com/Yijia-Xiao/LogicVista     # e5795f1  eval/extract_accuracy.py
    git clone https://github.com/DynaMath/DynaMath         # 598c3c3  evaluation/opensource_json_eval.py
    git clone https://github.com/MMStar-Benchmark/MMStar   # 88f243a  eval/vlmeval/evaluate/mmstar.py
    git clone https://github.com/tianyi-lab/HallusionBench # 744007c  utils.py
    git clone https://github.com/AoiDragon/POPE            # 08d957b  evaluate.py
    git clone https://github.com/allenai/aokvqa            # 83786de  evaluation/eval_predictions.py
    git clone https://github.com/lupantech/MathVista       # 53d5258  evaluation/extract_answer.py,
                                                           #          evaluation/calculate_score.py
    python -m venv /tmp/offvenv &&
        /tmp/offvenv/bin/pip install "pandas<2.3" numpy tqdm latex2sympy2 python-Levenshtein
    /tmp/offvenv/bin/python tests/eval/official/make_main_expected.py OFFICIAL_DIR ../shared/benchmarks-ref

OFFICIAL_DIR holds those files flat, renamed wemath_four_dimensional_metrics.py, wemath_accuracy.py,
mathv_evaluate.py, mathv_utils.py, mathverse_score_answer_s2.py, logicvista_extract_accuracy.py,
dynamath_opensource_json_eval.py, mmstar.py, hallusionbench_utils.py, pope_evaluate.py,
aokvqa_eval_predictions.py, mathvista_extract_answer.py, mathvista_calculate_score.py. The second argument is
the benchmark annotations (We-Math testmini + knowledge nodes, MATH-V testmini, HallusionBench): the messy
responses are made for their real items, so the aggregate figures are the official ones over the whole split.
"""

import ast
import contextlib
import io
import json
import re
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).parent


def text(path: Path) -> str:
    """The file as published, except DynaMath's script, which does not parse: its report-writing line (151,
    `open(f"{path}"prefix + ...)`, a missing `+`) is made a `pass`; nothing before it in the loop changes."""
    source = path.read_text()
    return re.sub(r'with open\(f"\{path\}"prefix[^\n]*', "if True:", source)


def function(path: Path, name: str, env: dict) -> object:
    tree = ast.parse(text(path))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), str(path), "exec"), env)
    return env[name]


def block(path: Path, first: str, last: str, head: str = "") -> object:
    """The statements of a script from the one whose source contains `first` to the one containing `last`,
    found in whichever statement list holds them (a loop body, a function body), compiled to run with exec;
    `head`: the first statement's own start (e.g. "try:", to take a try statement whole, its except clause
    included)."""
    source = text(path)
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            texts = [ast.get_source_segment(source, s) or "" for s in stmts]
            starts = [i for i, t in enumerate(texts) if first in t and t.startswith(head)]
            ends = [i for i, t in enumerate(texts) if last in t]
            if starts and ends and starts[0] <= ends[-1]:
                chosen = stmts[starts[0] : ends[-1] + 1]
                found.append((sum(len(texts[i]) for i in range(starts[0], ends[-1] + 1)), chosen))
    if not found:
        raise SystemExit(f"{path}: no statements from {first!r} to {last!r}")
    # the innermost statements that hold both (an enclosing loop holds them too, as one statement)
    return compile(ast.Module(min(found, key=lambda f: f[0])[1], []), str(path), "exec")


def pick(key: str, n: int) -> int:
    """A fixed, spread-out choice per item (crc32, not hash(): the same on every run)."""
    return zlib.crc32(key.encode()) % n


# ----------------------------------------------------------------------------------------------- We-Math
WEMATH = [  # {g}: the gold letter, {w}: a wrong one, {t}: the gold option's text
    "Answer: {g}",
    "Answer: {w}",
    "I think the Answer is: {g}.",
    "the answer is {g}",
    "{g}",
    "{w}",
    "<think>Answer: {w}</think> Answer: <{g}>.",
    "Answer: {gl}",
    "Answer: {g} or {w}",
    "",
    "<think>so</think> \\boxed{{{g}}}",
    "Answer: ({g})",
    "Answer:{g}.",
    "ANSWER: {g}",
    "Answer: {t}",
    "Answer: {g}\n\nThat is all.",
    "\\boxed{{{g}}} Answer: {w}",
    "Answer: {w}. Answer: {g}",
    "Answer: <{g}>",
    "Answer:: {g}..",
    "Answer: \n{g}",
    "Answer: {g}{w}",
    "answer: {g}",
    "Answer: Z",
    "Answer: {g}",
    "Answer: {g}",
    "Answer: {w}",
    "Answer: {g}",
]


def wemath(official: Path, ref: Path) -> dict:
    import pandas as pd

    rows = json.loads((ref / "wemath" / "testmini.json").read_text())
    out = []
    for r in rows:
        opts = dict(re.findall(r"(?:^|;)\s*([A-H])\.\s*([^;]*)", r["option"]))
        wrong = next(k for k in "ABCDEFGH" if k != r["answer"])
        template = WEMATH[pick(f"{r['ID']}:{r['key']}", len(WEMATH))]
        response = template.format(
            g=r["answer"], w=wrong, gl=r["answer"].lower(), t=opts.get(r["answer"], "")
        )
        out.append({**r, "response": response})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(out, f)
    env4: dict = {"pd": pd, "json": json}
    load = function(official / "wemath_four_dimensional_metrics.py", "load_and_process_data", env4)
    steps = function(official / "wemath_four_dimensional_metrics.py", "process_steps_data", env4)
    calc = function(official / "wemath_four_dimensional_metrics.py", "calculate_metrics", env4)
    final = function(official / "wemath_four_dimensional_metrics.py", "compute_final_scores", env4)
    row_fn = function(official / "wemath_four_dimensional_metrics.py", "update_main_results_df", env4)
    data = load(f.name)
    m2, m3 = (
        steps(data[data["key"].str.contains("2steps")], 2),
        steps(data[data["key"].str.contains("3steps")], 3),
    )
    counts, rates = final(calc(m2, m3), total_count=525)
    table = row_fn(pd.DataFrame(), "messy", counts, rates).iloc[0].to_dict()
    # accuracy.py: one-/two-/three-step accuracy and the per-domain table (needs the knowledge nodes)
    enva: dict = {"pd": pd, "json": json}
    nodes = function(official / "wemath_accuracy.py", "load_knowledge_structure_nodes", enva)(
        ref / "wemath" / "knowledge_structure_nodes.json"
    )
    ev = function(official / "wemath_accuracy.py", "evaluate_steps", enva)
    upd = function(official / "wemath_accuracy.py", "update_main_results_df", enva)
    concat = pd.concat([ev(m2, 2, nodes), ev(m3, 3, nodes)], axis=0)
    acc_row = upd(nodes, pd.DataFrame(), "messy", concat, m2, m3).iloc[0].to_dict()
    items = [
        [d["ID"], d["key"], d["response"], d["processed_answer"], bool(d["joker"])]
        for d in data.to_dict("records")
    ]
    return {
        "items": items,
        "four_dimensional": {k: v for k, v in table.items() if k != "Model"},
        "counts": counts,
        "accuracy": {k: v for k, v in acc_row.items() if k != "Model"},
    }


# ------------------------------------------------------------------------------------------------ MATH-V
MATHV = [  # {g}: the gold answer, {t}: the gold option's text (or the gold answer)
    "The answer is {g}.",
    "{g}",
    "\\boxed{{{g}}}",
    "<think>maybe 7</think>\n\\boxed{{{g}}}",
    "So the final answer is {g}. Done",
    "The answer is ({g}).",
    "I choose {g}.",
    "\\boxed{{{t}}}",
    "the answer is $\\frac{{1}}{{2}}$",
    "x = {g}",
    "\\boxed{{7}} or \\boxed{{{g}}}",
    "",
    "The answer is: {g}",
    "({g})\nbecause",
    "{g} degrees",
    "\\boxed{{{g}^\\circ}}",
    "The answer is \\boxed{{{g}}}.",
    "It is {g}",
    "the answer should be {g}\nsince",
    "\\boxed{{{g}.0}}",
    "{t}",
    "The correct answer is {g}, clearly.",
    "\\boxed{{\\text{{{g}}}}}",
    "answer: 12",
    "\\boxed{{ {g} }}",
    "Answer: \\boxed{{({g})}}",
    "{g} units",
    "\\boxed{{{g}}}\n\nThe answer is 3.",
    "the answer is 1/2",
    "\\boxed{{\\dfrac{{3}}{{4}}}}",
    "\\boxed{{0.5}}",
    "\\boxed{{(1,2)}}",
    "\\boxed{{\\sqrt2}}",
    "The answer is 2\\sqrt{{3}}.",
]


def mathv(official: Path, ref: Path) -> dict:
    sys.path.insert(0, str(official))
    import mathv_utils

    raw = [
        json.loads(x) for x in (ref / "mathvision" / "testmini.jsonl").read_text().splitlines() if x.strip()
    ]
    lines = []
    for r in raw:
        g = str(r["answer"])
        t = r["options"][ord(g) - ord("A")] if r["options"] and len(g) == 1 and g in "ABCDE" else g
        lines.append({"id": r["id"], "response": MATHV[pick(str(r["id"]), len(MATHV))].format(g=g, t=t)})
    saved: list = []
    env = {
        "id_raw": {r["id"]: r for r in raw},
        "load_jsonl": lambda path: lines,
        "tqdm": lambda x, **k: x,
        "save_jsonl": lambda path, data, t_stamp=True: saved.extend(data),
        "re": re,
        "json": json,
        "find_math_answer": mathv_utils.find_math_answer,
        "is_equal": mathv_utils.is_equal,
        "is_number": mathv_utils.is_number,
        "os": __import__("os"),
    }
    function(official / "mathv_evaluate.py", "evaluate", env)("answers.jsonl", True)
    table: dict = {}
    env["json"] = type("J", (), {"dump": staticmethod(lambda obj, *a, **k: table.update(obj))})
    env["load_jsonl"] = lambda path: saved
    env["open"] = lambda *a, **k: io.StringIO()  # its result file: the table is taken from json.dump instead
    with contextlib.redirect_stdout(io.StringIO()):
        function(official / "mathv_evaluate.py", "math_level_subject_acc", env)("answers.jsonl")
    return {
        "items": [[x["id"], x["response"], x["model_answer"], bool(x["correct"])] for x in saved],
        "results": table,
    }


# ----------------------------------------------------------------------------------------------- DynaMath
DYNAMATH = [  # (response, answer_type, ground truth)
    ('{"solution": "...", "short answer": "3.142"}', "float", "3.1416"),
    ('{"solution": "...", "short answer": "3.14"}', "float", "3.1416"),
    ('{"solution": "...", "short answer": "π"}', "float", "3.1416"),
    ('{"solution": "...", "short answer": "1π"}', "float", "3.1416"),
    ('{"solution": "...", "short answer": "2.000 cm"}', "float", "2.0"),
    ('{"solution": "...", "short answer": "2"}', "float", "2.0"),
    ('{"solution": "...", "short answer": "-2"}', "float", "-2.0"),
    ('```json\n{"solution": "\\\\frac12", "short answer": "0.5"}\n```', "float", "0.5"),
    ('<think>so</think>{"solution": "a", "short answer": "B"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "B"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "b"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "(B)"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "B. 12"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "Option B"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": "AB"}', "multiple choice", "B"),
    ('{"solution": "a", "short answer": ""}', "multiple choice", "B"),
    ('{"solution": "a"}', "multiple choice", "B"),
    ("The answer is B.", "multiple choice", "B"),
    ("Reasoning...\nB.", "multiple choice", "B"),
    ("Reasoning...\nB", "multiple choice", "B"),
    ("B", "multiple choice", "B"),
    ("\\boxed{B}", "multiple choice", "B"),
    ("<think>x</think> \\boxed{B}", "multiple choice", "B"),
    ("", "multiple choice", "B"),
    ('{"solution": "a", "short answer": "yes"}', "free form", "Yes"),
    ('{"solution": "a", "short answer": "Yes, it is"}', "free form", "Yes"),
    ('{"solution": "a", "short answer": "(1, 2)"}', "free form", "(1, 2)"),
    ('{"solution": "a", "short answer": "(1,2)"}', "free form", "(1, 2)"),
    ("Line one\n{broken json", "free form", "json"),
    ('{"solution": "a", "short answer": 3.0}', "float", "3.0"),
    ('{"solution": "a", "short answer": "3.0001"}', "float", "3.0"),
    ('{"solution": "a", "short answer": "3.002"}', "float", "3.0"),
    ('{"solution": "a", "short answer": "three"}', "float", "3.0"),
    ("Reasoning...\n3.0.", "float", "3.0"),
    ("3.0", "float", "3.0"),
    ('{"a": {"short answer": "B"}}', "multiple choice", "B"),
    ('{"solution": "x", "short answer": "B"} and {"short answer": "C"}', "multiple choice", "B"),
]


def dynamath(official: Path) -> list:
    path = official / "dynamath_opensource_json_eval.py"
    env: dict = {"json": json, "np": __import__("numpy")}
    function(path, "preprocess", env)
    function(path, "transfer", env)
    reading = block(path, "description = preprocess(", "dj = json.loads(description")
    grading = block(path, 'answer = str(dj.get("short answer"))', 'temp_data["result"] = "fail"', head="try:")
    out = []
    for response, answer_type, gold in DYNAMATH:
        msg = type("M", (), {"content": response})
        scope = {
            **env,
            "response": type("R", (), {"choices": [type("C", (), {"message": msg})]}),
            "json_dict": {"0": {"answer_type": answer_type}},
            "temp": "0",
            "temp_data": {"Ground truth": gold},
            "count": 0,
        }
        exec(reading, scope)
        exec(grading, scope)
        dj = scope["dj"]  # a response that is a bare number parses to a float: no short answer, graded "fail"
        out.append(
            [
                response,
                answer_type,
                gold,
                str(dj.get("short answer")) if isinstance(dj, dict) else None,
                scope["temp_data"]["result"] == "correct",
            ]
        )
    return out


# ------------------------------------------------------------------------------------------------- MMStar
MMSTAR = [
    "A",
    "a",
    "(A)",
    "(a) cat",
    "A. cat",
    "Option A",
    "option a",
    "The answer is A",
    "the answer is (A)",
    "The answer is: A",
    "Answer: A",
    "\\boxed{A}",
    "<think>A</think> A",
    " A",
    "\nA",
    "",
    "(",
    "option ",
    "the answer is ",
    "The correct answer is A",
    "B",
    "A or B",
    "AB",
    "a)",
    "Options A",
    "cat",
]


def mmstar(official: Path) -> list:
    path = official / "mmstar.py"
    scoring = block(path, "answer = answers.lower()", "except Exception")
    out = []
    for gold in "AB":
        for response in MMSTAR:
            scope = {
                "predict": str(response),
                "answers": str(gold),
                "category": "c",
                "l2_category": "l",
                "MMStar_score_l2": {"c": {"l": 0}},
            }
            exec(scoring, scope)
            out.append([response, gold, scope["MMStar_score_l2"]["c"]["l"] == 1])
    return out


# --------------------------------------------------------------------------------------------------- POPE
POPE = [
    "Yes",
    "No",
    "yes",
    "no",
    "Yes, there is a dog.",
    "No, there is no dog.",
    "There is a dog in the image.",
    "There is not a dog.",
    "NO",
    "No.",
    "no.",
    "Yes. No.",
    "The answer is no",
    "<think>no</think> Yes",
    "",
    "Nope",
    "I do not see one.",
    "No,there is none",
    "Not sure",
    "no\n",
    "\\boxed{No}",
    "It's not there. yes",
    "yes, no",
    "I can't tell",
    "Absolutely no dog",
]


def pope(official: Path) -> dict:
    path = official / "pope_evaluate.py"
    labels = ["yes" if pick(f"pope{i}", 2) else "no" for i in range(len(POPE))]
    scope = {"json": json, "answers": [{"answer": r} for r in POPE], "label_list": list(labels)}
    code = block(path, "for answer in answers:", "print('Yes ratio")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, scope)
    keys = ("TP", "FP", "TN", "FN", "acc", "precision", "recall", "f1", "yes_ratio")
    return {
        "items": [[r, g, a["answer"]] for r, g, a in zip(POPE, labels, scope["answers"], strict=True)],
        "metrics": {k: scope[k] for k in keys},
    }


# ------------------------------------------------------------------------------------------------ A-OKVQA
AOKVQA_CHOICES = ["red", "Blue", "green light", "a cat"]
AOKVQA = [
    "Blue",
    "blue",
    "B",
    "(B)",
    "B. Blue",
    "Blue.",
    " Blue",
    "Blue\n",
    "The answer is Blue",
    "red",
    "",
    "\\boxed{Blue}",
    "<think>x</think>Blue",
    "BLUE",
    "green light",
    "a cat",
    "cat",
]


def aokvqa(official: Path) -> list:
    env: dict = {}
    score = function(official / "aokvqa_eval_predictions.py", "eval_aokvqa", env)
    out = []
    for correct in (1, 3):
        dataset = [
            {
                "question_id": "q",
                "choices": AOKVQA_CHOICES,
                "correct_choice_idx": correct,
                "direct_answers": [],
                "difficult_direct_answer": False,
            }
        ]
        for response in AOKVQA:
            out.append(
                [response, correct, score(dataset, {"q": response}, multiple_choice=True, strict=False)]
            )
    return out


# ---------------------------------------------------------------------------------------------- MathVista
MATHVISTA_PROBLEMS = {
    "mc": {
        "question_type": "multi_choice",
        "answer_type": "text",
        "choices": ["3", "4", "5", "6"],
        "answer": "4",
        "precision": None,
    },
    "mc_text": {
        "question_type": "multi_choice",
        "answer_type": "text",
        "choices": ["larger than", "equal to", "smaller than"],
        "answer": "equal to",
        "precision": None,
    },
    "int": {
        "question_type": "free_form",
        "answer_type": "integer",
        "choices": None,
        "answer": "12",
        "precision": None,
    },
    "float1": {
        "question_type": "free_form",
        "answer_type": "float",
        "choices": None,
        "answer": "1.5",
        "precision": 1.0,
    },
    "float2": {
        "question_type": "free_form",
        "answer_type": "float",
        "choices": None,
        "answer": "0.33",
        "precision": 2.0,
    },
    "list": {
        "question_type": "free_form",
        "answer_type": "list",
        "choices": None,
        "answer": "[1, 2]",
        "precision": None,
    },
}
MATHVISTA = [
    "",
    "B",
    "(B)",
    "(b) 4",
    "4",
    "4.0",
    " 4 ",
    'The answer is "4".',
    "The answer is 4.",
    "12",
    "12.0",
    "12.7",
    "twelve",
    "1.5",
    "1.46",
    "1.54",
    "1.55",
    "0.33",
    "0.333",
    "1/3",
    "[1, 2]",
    "[1,2]",
    "equal to",
    "Equal to",
    "equal",
    "smaller",
    "larger than or equal to",
    "\\boxed{B}",
    "<think>x</think> B",
    "A or B",
    "None",
    "(E)",
    "e",
    "1e1",
    "-0",
    "12 apples",
    'The answer is "equal to".',
]


def mathvista(official: Path) -> dict:
    import Levenshtein

    env: dict = {"re": re, "logging": __import__("logging"), "demo_prompt": "(the official few-shot prompt)"}
    function(official / "mathvista_extract_answer.py", "create_test_prompt", env)
    extract = function(official / "mathvista_extract_answer.py", "extract_answer", env)
    senv: dict = {"re": re, "distance": Levenshtein.distance, "logging": __import__("logging")}
    function(official / "mathvista_calculate_score.py", "get_most_similar", senv)
    normalize = function(official / "mathvista_calculate_score.py", "normalize_extracted_answer", senv)
    equal = function(official / "mathvista_calculate_score.py", "safe_equal", senv)
    judge = type("Judge", (), {"get_response": staticmethod(lambda user_prompt: "JUDGE")})
    extraction, scoring = [], []
    for name, p in MATHVISTA_PROBLEMS.items():
        problem = {**p, "query": "q", "pid": name}
        for text in MATHVISTA:
            got = extract(judge, text, problem, quick_extract=True)
            extraction.append([name, text, None if got == "JUDGE" else got])
            norm = normalize(text, p["choices"], p["question_type"], p["answer_type"], p["precision"])
            scoring.append([name, text, norm, bool(equal(norm, p["answer"]))])
        for value in (None, 4, 4.0, 12, [1, 2]):  # non-string extractions (a judge's JSON), the str() path
            norm = normalize(value, p["choices"], p["question_type"], p["answer_type"], p["precision"])
            scoring.append([name, value, norm, bool(equal(norm, p["answer"]))])
    return {"problems": MATHVISTA_PROBLEMS, "extraction": extraction, "scoring": scoring}


# --------------------------------------------------------------------------------------------- MathVerse
MATHVERSE = [  # (gold answer, extraction): the rule-based step is score_answer_s2's quick match
    ("B", "B"),
    ("B", "b"),
    ("B", "(B)"),
    ("B", " B"),
    ("B", "B."),
    ("12", "12"),
    ("12", "12.0"),
    ("\\frac{1}{2}", "\\frac{1}{2}"),
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "1/2"),
    ("12", ""),
    ("A:3", "A:3"),
    ("A", "A:3"),
    ("3\\sqrt{2}", "3√2"),
    ("12", "\\boxed{12}"),
]


def mathverse(official: Path) -> list:
    match = function(official / "mathverse_score_answer_s2.py", "match_answer", {})
    return [
        [g, e, match({"answer": g, "extraction": e}, None, quick_match=True) == "1"] for g, e in MATHVERSE
    ]


# -------------------------------------------------------------------------------------------- LogicVista
LOGICVISTA = [  # (raw answer, gold)
    ("", "B"),
    ("   ", "B"),
    ("Z", "B"),
    ("?", "B"),
    ("B", "B"),
    ("b", "B"),
    ("1", "B"),
    ("ASSISTANT: ", "B"),
    ("USER: hi ASSISTANT: B", "B"),
    ("The answer is B", "B"),
    ("x", "B"),
    ("F", "B"),
    (".", "B"),
]
LOGICVISTA_LISTS = [  # (a judge's letter list, gold): the rule-based match after extraction
    (["B"], "B"),
    (["b"], "B"),
    (["C"], "B"),
    (["B", "D"], "B, D"),
    (["D", "B"], "B, D"),
    (["b", "d"], "B, D"),
    (["B"], "B, D"),
    (["B", "D", "A"], "B, D"),
    (["ZZZZZ"], "B"),
    ([""], "B"),
    (["B", "B"], "B"),
    (["3"], "3"),
]


class _Judge(Exception):
    """Raised by the stubbed LLM: the official rules did not decide."""


def _ask(*a, **k):
    raise _Judge


def logicvista(official: Path) -> dict:
    path = official / "logicvista_extract_accuracy.py"
    reading = block(path, 'entry = ""', "if len(entry.strip()) != 0:")
    matching = block(path, 'truth_answers = ground_truth[id]["answer"]', "match = 1")
    stub = type("Stub", (), {"from_template": staticmethod(_ask), "invoke": staticmethod(_ask)})
    out = []
    for raw, gold in LOGICVISTA:
        scope = {
            "data": {"v": {"answer": raw}},
            "id": "v",
            "PromptTemplate": stub,
            "llm": stub,
            "ground_truth": {"v": {"answer": gold, "question": "q"}},
            "match": 0,
            "format_instructions": "",
        }
        try:
            exec(reading, scope)
        except _Judge:
            out.append([raw, gold, None, None])
            continue
        exec(matching, scope)
        out.append([raw, gold, scope["MLLM_answers"], scope["match"] == 1])
    lists = []
    for answers, gold in LOGICVISTA_LISTS:
        scope = {
            "ground_truth": {"v": {"answer": gold}},
            "id": "v",
            "MLLM_answers": list(answers),
            "match": 0,
        }
        exec(matching, scope)
        lists.append([answers, gold, scope["match"] == 1])
    return {"rules": out, "match": lists}


# ---------------------------------------------------------------------------------------- HallusionBench
def hallusionbench(official: Path, ref: Path) -> dict:
    import numpy as np

    data = json.loads((ref / "hallusionbench" / "HallusionBench.json").read_text())
    env: dict = {"np": np}
    for name in (
        "get_eval_fig",
        "get_eval_all",
        "get_eval_pair_all",
        "get_eval_pair_easy",
        "get_eval_pair_hard",
        "assign_correctness",
    ):
        function(official / "hallusionbench_utils.py", name, env)
    verdicts = []
    for r in data:  # the judge's verdict per question: mostly correct, some incorrect, some unclear
        key = "_".join(str(r[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id"))
        verdicts.append("1" if pick(key, 10) < 6 else "0" if pick(key, 10) < 9 else "2")
    rows = [{**r, "check": v, "same": "0"} for r, v in zip(data, verdicts, strict=True)]
    rows = env["assign_correctness"](rows, correctness_entry="check")
    vd = [r for r in rows if r["category"] == "VD"]
    vs = [r for r in rows if r["category"] == "VS"]
    figures = {"all": env["get_eval_fig"](rows), "VD": env["get_eval_fig"](vd), "VS": env["get_eval_fig"](vs)}
    return {
        "verdicts": verdicts,
        "aAcc": {
            k: {"correct": int(v["correct"]), "total": v["total"]}
            for k, v in (
                ("all", env["get_eval_all"](rows, "check")),
                ("VD", env["get_eval_all"](vd, "check")),
                ("VS", env["get_eval_all"](vs, "check")),
            )
        },
        "fAcc": {k: {"correct": v["correct"], "total": v["total"]} for k, v in figures.items()},
        "qAcc": {
            k: {"correct": v["correct"], "total": v["total"]}
            for k, v in (
                ("all", env["get_eval_pair_all"](rows, "check")),
                ("VD", env["get_eval_pair_all"](vd, "check")),
                ("VS", env["get_eval_pair_all"](vs, "check")),
            )
        },
        "easy": {
            "correct": env["get_eval_pair_easy"](rows)["correct"],
            "total": env["get_eval_pair_easy"](rows)["total"],
        },
        "hard": {
            "correct": env["get_eval_pair_hard"](rows)["correct"],
            "total": env["get_eval_pair_hard"](rows)["total"],
        },
    }


def main(official: Path, ref: Path) -> None:
    expected = {
        "wemath": wemath(official, ref),
        "mathvision": mathv(official, ref),
        "dynamath": dynamath(official),
        "mmstar": mmstar(official),
        "pope": pope(official),
        "aokvqa": aokvqa(official),
        "mathvista": mathvista(official),
        "mathverse": mathverse(official),
        "logicvista": logicvista(official),
        "hallusionbench": hallusionbench(official, ref),
    }
    (HERE / "main_expected.json").write_text(json.dumps(expected, indent=None, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
