"""Tests for answer extraction, grading and the format rule."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import stagewise.rewards.verify as verify_mod
from stagewise.rewards.verify import (
    FORMAT_PATTERN,
    call_killable,
    extract_answer,
    extract_choice,
    format_ok,
    grade,
    grade_reason,
    infer_kind,
    last_boxed,
    math_equal,
    parse_number,
    strip_think,
    symbolic_equal,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>reason</think> answer", " answer"),
        ("<think>a</think> b <think>c</think> d", " d"),
        ("<think>never closed \\boxed{3}", ""),
        ("no tags \\boxed{3}", "no tags \\boxed{3}"),
        ("stray </think> tail", " tail"),
    ],
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{3}", "3"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\frac{\sqrt{2}}{2}} tail", r"\frac{\sqrt{2}}{2}"),
        (r"\boxed{1} then \boxed{2}", "2"),
        (r"\fbox{7}", "7"),
        (r"\boxed {4}", "4"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\boxed{}", ""),
        (r"\boxed{3", None),
        (r"\boxed{1} and \boxed{2", None),
        ("no box at all", None),
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"<think>I see 2 red circles, 2 + 1 = 3.</think> \boxed{3}", "3"),
        (r"<think>maybe \boxed{5}</think> so \boxed{ 3 }", "3"),
        (r"<think>maybe \boxed{5}</think> no box after", None),
        (r"<think>unclosed \boxed{3}", None),
        (r"<think>a</think> \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{1} \boxed{2}", "2"),
        (r"\fbox{B}", "B"),
        ("<think>x</think><answer> 12 </answer>", "12"),
        ("<answer>1</answer> <answer>2</answer>", "2"),
        ("<think>x</think> So the answer is 42. Done.", "42"),
        ("The answer is 3.5.", "3.5"),
        ("the answer is 3, no wait, the answer is 4.", "4"),
        ("The final answer is: $\\frac{3}{4}$.", r"\frac{3}{4}"),
        ("Answer: **12**", "12"),
        (r"the answer is 7 \boxed{8}", "8"),
        (r"\boxed{} but the answer is 3", ""),
        ("<think>x</think> nothing here", None),
        ("", None),
    ],
)
def test_extract_answer(response: str, expected: str | None) -> None:
    assert extract_answer(response) == expected


@pytest.mark.parametrize(
    ("text", "n_options", "expected"),
    [
        ("B", 4, "B"),
        ("(B)", 4, "B"),
        ("B.", 4, "B"),
        ("B) 12", 4, "B"),
        ("(C) a triangle", 4, "C"),
        (r"\text{B}", 4, "B"),
        (r"\textbf{(D)}", 4, "D"),
        ("Option B", 4, "B"),
        ("The answer is (C).", 4, "C"),
        ("b", 4, "B"),
        ("I think B", 4, "B"),
        ("B) A triangle", 4, "B"),
        ("E", 4, None),
        ("E", 5, "E"),
        ("A, B, C, D", 4, None),
        ("A/B/C/D", 4, None),
        ("A or B", 4, None),
        ("Both A and B", 4, None),
        ("A. 3 or B. 4", 4, None),
        ("ABCD", 4, None),
        ("12", 4, None),
        ("", 4, None),
        (None, 4, None),
    ],
)
def test_extract_choice(text: str | None, n_options: int, expected: str | None) -> None:
    assert extract_choice(text, n_options) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("3.0", 3.0),
        ("-2", -2.0),
        ("1,000", 1000.0),
        ("$1,234.5", 1234.5),
        ("12%", 12.0),
        (r"12\%", 12.0),
        ("3/4", 0.75),
        (r"\frac{3}{4}", 0.75),
        (r"-\dfrac{1}{2}", -0.5),
        ("1e3", 1000.0),
        ("7.", 7.0),
        ("1,5", None),
        ("3 apples", None),
        ("x", None),
        ("1/0", None),
    ],
)
def test_parse_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("gold", "expected"),
    [("B", "choice"), ("(A)", "choice"), ("F", "choice"), ("3", "number"), ("-0.5", "number"),
     ("1,000", "number"), (r"\sqrt{2}", "expression"), ("x+1", "expression")],
)  # fmt: skip
def test_infer_kind(gold: str, expected: str) -> None:
    assert infer_kind(gold) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "kind", "expected"),
    [
        # choice
        ("B", "B", "choice", True),
        ("(b)", "B", "choice", True),
        (r"\text{B}", "b", "choice", True),
        ("B) 12", "B", "choice", True),
        ("C", "B", "choice", False),
        ("E", "E", "choice", True),  # gold beyond D widens the valid letters
        # number
        ("3", "3", "number", True),
        ("3.0", "3", "number", True),
        ("1,000", "1000", "number", True),
        ("3/4", "0.75", "number", True),
        (r"\frac{3}{4}", "0.75", "number", True),
        ("-2", "-2", "number", True),
        ("2", "-2", "number", False),
        ("4", "3", "number", False),
        ("3.0000001", "3", "number", True),  # within 1e-6 relative
        ("3.001", "3", "number", False),
        ("$5", "5", "number", True),
        ("3 apples", "3", "number", True),  # not a bare number: math_verify fallback
        ("3 or 4", "3", "number", False),
        # expression
        (r"\frac{3}{4}", "0.75", "expression", True),
        (r"2\sqrt{2}", r"\sqrt{8}", "expression", True),
        (r"2\sqrt{2}", r"\sqrt{8}", "math", True),
        ("(x+1)^2", "x^2+2x+1", "expression", True),
        (r"\sqrt{3}", r"\sqrt{8}", "expression", False),
        ("1, 2, 3", "3", "expression", False),
        # never correct
        (None, "3", "number", False),
        ("", "3", "number", False),
        ("   ", "B", "choice", False),
    ],
)
def test_grade(pred: str | None, gold: str, kind: str, expected: bool) -> None:
    assert grade(pred, gold, kind) is expected


def test_grade_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown answer kind"):
        grade("3", "3", "vibes")


@pytest.mark.parametrize(
    ("response", "gold", "kind"),
    [
        (r"<think>x</think> \boxed{}", "3", "number"),
        (r"<think>x</think> \boxed{}", "B", "choice"),
        (r"<think>x</think> \boxed{}", r"\frac{1}{2}", "expression"),
        (r"<think>x</think> \boxed{3} or maybe \boxed{4}", "3", "number"),
        (r"<think>x</think> \boxed{B} \boxed{C}", "B", "choice"),
        (r"<think>x</think> \boxed{A, B, C, D}", "B", "choice"),
        (r"<think>x</think> \boxed{A/B/C/D}", "C", "choice"),
        (r"<think>x</think> \boxed{A or B}", "A", "choice"),
        (r"<think>x</think> \boxed{\text{A, B, C or D}}", "D", "choice"),
        (r"<think>\boxed{3}</think> I am not sure", "3", "number"),
    ],
)
def test_reward_hacks_are_graded_wrong(response: str, gold: str, kind: str) -> None:
    assert grade(extract_answer(response), gold, kind) is False


LONG_THINK = "<think>" + "a" * 100_000 + r"</think> \boxed{3}"
MANY_OPEN_BOXES = "<think>x</think>" + r"\boxed{" * 15_000
MANY_THINKS = "<think>" * 15_000 + r"</think> \boxed{3}"
MANY_PHRASES = "the answer is " * 8_000
NESTED_BRACES = "<think>x</think>" + r"\boxed{" + "{" * 50_000 + "3" + "}" * 50_001


@pytest.mark.parametrize(
    ("response", "answer", "correct", "formatted"),
    [
        (LONG_THINK, "3", True, True),
        (MANY_OPEN_BOXES, None, False, False),
        (MANY_THINKS, "3", True, False),
        (MANY_PHRASES, None, False, False),
        (NESTED_BRACES, "{" * 50_000 + "3" + "}" * 50_000, False, True),
    ],
    ids=["long-think", "many-open-boxes", "many-thinks", "many-phrases", "deeply-nested"],
)
def test_long_and_adversarial_responses_are_fast(
    response: str, answer: str | None, correct: bool, formatted: bool
) -> None:
    assert len(response) >= 100_000
    start = time.perf_counter()
    extracted = extract_answer(response)
    is_correct = grade(extracted, "3", "number", timeout_s=1.0)
    is_formatted = format_ok(response)
    elapsed = time.perf_counter() - start
    assert (extracted, is_correct, is_formatted) == (answer, correct, formatted)
    assert elapsed < 1.0, f"took {elapsed:.3f} s"


PATHOLOGICAL = "{" * 30 + "3" + "}" * 30  # math_verify parses this for minutes


def test_pathological_input_is_refused_before_math_verify() -> None:
    start = time.perf_counter()
    assert grade_reason(PATHOLOGICAL, "3", "expression", timeout_s=0.2) == (False, "too_complex:nesting")
    assert time.perf_counter() - start < 0.1


def test_timeout_is_a_safety_net_that_scores_0() -> None:
    start = time.perf_counter()
    assert symbolic_equal("3", PATHOLOGICAL, timeout_s=0.2) == (False, "timeout")
    assert time.perf_counter() - start < 1.0
    # The killed worker is replaced: the next comparison is graded normally.
    assert grade(r"\sqrt{8}", r"2\sqrt{x}", "expression") is False
    assert symbolic_equal(r"2\sqrt{x}", r"\sqrt{4x}") == (True, "correct")


def test_timeout_holds_with_other_threads_alive() -> None:
    # CI hung here when the SIGALRM timer was used: tqdm's monitor threads were alive in the main process.
    stop = threading.Event()
    idlers = [threading.Thread(target=stop.wait, daemon=True) for _ in range(3)]
    for thread in idlers:
        thread.start()
    try:
        for _ in range(3):
            start = time.perf_counter()
            assert symbolic_equal("3", PATHOLOGICAL, timeout_s=0.2) == (False, "timeout")
            assert time.perf_counter() - start < 1.0
    finally:
        stop.set()


def test_dead_worker_is_replaced() -> None:
    assert math_equal("x+1", "1+x") is True
    worker = verify_mod._thread_worker()
    assert worker.proc is not None
    worker.proc.kill()
    worker.proc.wait()
    assert math_equal("x+1", "1+x") is True
    assert math_equal("x+1", "x+2") is False


def test_over_long_answer_skips_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        verify_mod.MathWorker, "call", lambda self, target, args, timeout_s: calls.append(args[1]) or True
    )
    assert math_equal("x", "x" + " " * verify_mod.MAX_SYMBOLIC_CHARS) is False
    assert math_equal("3", "3" + " " * verify_mod.MAX_SYMBOLIC_CHARS) is True  # arithmetic: no math_verify
    assert math_equal("x", "x ") is True
    assert calls == ["x "]


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        (r"\text{" * 20_000 + "B" + "}" * 20_000, False),
        ("A, " * 40_000 + "B", False),
        ("(" * 100_000 + "B", True),  # garbage, but it names only one option
    ],
    ids=["nested-text", "listed-letters", "open-parens"],
)
def test_long_choice_answers_are_fast(pred: str, expected: bool) -> None:
    start = time.perf_counter()
    assert grade(pred, "B", "choice") is expected
    assert time.perf_counter() - start < 1.0


def test_last_boxed_on_100kb_is_fast() -> None:
    text = "x" * 100_000 + r"\boxed{\frac{1}{2}}"
    start = time.perf_counter()
    assert last_boxed(text) == r"\frac{1}{2}"
    assert time.perf_counter() - start < 0.05


FORMAT_CASES = [
    (r"<think>2 + 1 = 3</think> \boxed{3}", True),
    (r"  <think>a</think>The answer is \boxed{3}. Done  ", True),
    (r"<think></think>\boxed{}", True),
    (r"<think>a</think> \boxed{\frac{1}{2}}", True),
    (r"\boxed{3}", False),  # missing think
    ("<think>a</think> 3", False),  # missing box
    (r"<think>a</think> \boxed{3", False),  # box never closed
    (r"\boxed{3} <think>a</think>", False),  # box before think
    (r"<think>\boxed{3}</think>", False),  # box only inside think
    (r"<think>a</think><think>b</think> \boxed{3}", False),  # two think blocks
    (r"<think><think>a</think></think> \boxed{3}", False),  # nested think
    (r"<think>a</think> \boxed{3} </think>", False),  # extra close tag
    (r"prefix <think>a</think> \boxed{3}", False),  # text before think
    (r"<think>a \boxed{3}", False),  # unclosed think
    (r"<think>a</think> \fbox{3}", False),  # the paper's rule names \boxed only
]


@pytest.mark.parametrize(("response", "expected"), FORMAT_CASES)
def test_format_ok(response: str, expected: bool) -> None:
    assert format_ok(response) is expected


@pytest.mark.parametrize(("response", "_expected"), FORMAT_CASES)
def test_format_ok_agrees_with_paper_regex(response: str, _expected: bool) -> None:
    text = response.strip()
    single_think = text.count("<think>") == 1 and text.count("</think>") == 1
    assert format_ok(response) is (single_think and FORMAT_PATTERN.fullmatch(text) is not None)


def _timed_grade(results: dict[str, object]) -> None:
    start = time.perf_counter()
    results["graded"] = symbolic_equal("3", PATHOLOGICAL, timeout_s=0.2)[0]
    results["elapsed"] = time.perf_counter() - start


def test_grade_timeout_leaves_signals_alone() -> None:
    handler_before = signal.getsignal(signal.SIGALRM)
    results: dict[str, object] = {}
    _timed_grade(results)
    assert results["graded"] is False
    assert results["elapsed"] < 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is handler_before


def test_grade_timeout_off_main_thread() -> None:
    results: dict[str, object] = {}
    worker = threading.Thread(target=_timed_grade, args=(results,))
    worker.start()
    worker.join(10)
    assert results["graded"] is False
    assert results["elapsed"] < 1.0


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "worker-thread"])
def test_math_verify_works_off_main_thread(in_thread: bool) -> None:
    results: dict[str, object] = {}

    def run() -> None:
        results["equal"] = math_equal("0.75", r"\frac{3}{4}")
        results["different"] = math_equal("0.75", r"\frac{2}{3}")

    if in_thread:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)
    else:
        run()
    assert results == {"equal": True, "different": False}


def test_math_equal_swallows_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, target: object, args: list, timeout_s: float) -> bool:
        raise RuntimeError("sympy exploded")

    monkeypatch.setattr(verify_mod.MathWorker, "call", broken)
    assert math_equal("x", "x") is False


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "worker-thread"])
def test_call_killable(in_thread: bool) -> None:
    results: dict[str, object] = {}

    def run() -> None:
        results["value"] = call_killable("math:hypot", 3, 4, timeout_s=5.0)
        start = time.perf_counter()
        try:
            call_killable("time:sleep", 30, timeout_s=0.2)
        except TimeoutError:
            results["timed_out"] = time.perf_counter() - start < 2.0
        try:
            call_killable("math:sqrt", -1, timeout_s=5.0)
        except RuntimeError as error:
            results["raised"] = "ValueError" in str(error)
        try:
            call_killable("fractions:Fraction", 1, 3, timeout_s=5.0)  # a result JSON cannot carry
        except RuntimeError as error:
            results["unserialisable"] = "not JSON serializable" in str(error)
        results["after"] = call_killable("math:hypot", 6, 8, timeout_s=5.0)

    if in_thread:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)
    else:
        run()
    assert results == {"value": 5.0, "timed_out": True, "raised": True, "unserialisable": True, "after": 10.0}


def test_a_finished_threads_worker_process_goes_with_it() -> None:
    import gc

    procs = []

    def run() -> None:
        assert math_equal("x/2", r"\frac{x}{2}") is True
        procs.append(verify_mod._thread_worker().proc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    del thread
    gc.collect()
    deadline = time.perf_counter() + 5
    while procs[0].poll() is None and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert procs[0].poll() is not None


def test_a_worker_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod.sys, "executable", "/bin/false")
    worker = verify_mod.MathWorker()
    with pytest.raises(RuntimeError, match=r"/bin/false\) did not start .*exit code 1"):
        worker.call(None, ["1", "1"], 1.0)
