"""Answer extraction and grading shared by the RL rewards and evaluation.

Responses look like ``<think>...</think> \\boxed{3}``. Every function here must stay linear-time on
long or adversarial responses (the policy produces both during RL), so scanning is done with ``str``
methods and simple non-nested regexes rather than backtracking-prone patterns.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import math
import os
import re
import select
import subprocess
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Literal

import math_verify
import math_verify.grader
import math_verify.parser

logger = logging.getLogger(__name__)

AnswerKind = Literal["choice", "number", "expression"]
ANSWER_KINDS: tuple[str, ...] = ("choice", "number", "expression")
DEFAULT_TIMEOUT_S = 5.0

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# The paper's format rule; `format_ok` implements it without regex backtracking.
FORMAT_PATTERN = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)

# We enforce our own timeout around math_verify, so its one-off "timeout disabled" warning is noise.
math_verify.parser.TIMEOUT_WARNING_SHOWN = True
math_verify.grader.TIMEOUT_WARNING_SHOWN = True

_BOX_OPEN_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
# Escaped braces (\{ \}) and a LaTeX line break (\\) do not change the nesting depth.
_BRACE_TOKEN_RE = re.compile(r"\\\\|\\[{}]|[{}]")
_ANSWER_PHRASE_RE = re.compile(r"\banswer\s*(?:is\s*:?|:)", re.IGNORECASE)
_ANSWER_VALUE_RE = re.compile(r"[ \t]*(\S.*?)[ \t]*(?:\.(?:\s|$)|\n|$)")

# --- choices ---------------------------------------------------------------------------------------
_LATEX_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_CHOICE_PREFIX_RE = re.compile(
    r"^(?:the\s+)?(?:(?:correct|final)\s+)?(?:answer|option|choice)\s*(?:is\b)?\s*[:\-]?\s*", re.IGNORECASE
)
_BARE_CHOICE_RE = re.compile(r"\(?([A-Za-z])\)?[.):]?")
_HEAD_CHOICE_RE = re.compile(r"(?:\(([A-Z])\)|([A-Z])[.):])\s*(.*)", re.DOTALL)
# In the option text after "B) ...", only label-like letters count as naming another option.
_LABEL_LETTER_RE = re.compile(
    r"(?:^|[\s,/;(])\(?([A-Z])(?:[).:,/;]|\s*$)|\b(?:or|and)\s+\(?([A-Z])(?![A-Za-z])"
)
_STANDALONE_LETTER_RE = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")
_PRONOUN_I_RE = re.compile(r"(?<![A-Za-z])I(?=\s+[a-z]|')")

# --- numbers ---------------------------------------------------------------------------------------
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SLASH_FRACTION_RE = re.compile(r"([+-]?[\d.]+)\s*/\s*([+-]?[\d.]+)")
_LATEX_FRACTION_RE = re.compile(r"([+-]?)\\[dt]?frac\s*\{\s*([+-]?[\d.]+)\s*\}\s*\{\s*([+-]?[\d.]+)\s*\}")
_NUMBER_NOISE = ("\\$", "$", "\\%", "%", "\\,", "\\!", "\\;", "{,}", "~")


def strip_think(text: str) -> str:
    """Drop the reasoning: everything up to and including the last ``</think>``.

    An unclosed ``<think>`` means the answer was never written, so it yields ``""``.
    """
    close = text.rfind(THINK_CLOSE)
    if close != -1:
        return text[close + len(THINK_CLOSE) :]
    if THINK_OPEN in text:
        return ""
    return text


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = deque(pattern.finditer(text), maxlen=1)
    return found[0] if found else None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``/``\\fbox{...}``; None if absent or its braces never close."""
    last = _last_match(_BOX_OPEN_RE, text)
    if last is None:
        return None
    depth = 1
    for token in _BRACE_TOKEN_RE.finditer(text, last.end()):
        brace = token.group()
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth -= 1
            if depth == 0:
                return text[last.end() : token.start()]
    return None


def _answer_tag(text: str) -> str | None:
    end = text.rfind("</answer>")
    if end == -1:
        return None
    start = text.rfind("<answer>", 0, end)
    return None if start == -1 else text[start + len("<answer>") : end]


def _answer_phrase(text: str) -> str | None:
    last = _last_match(_ANSWER_PHRASE_RE, text)
    if last is None:
        return None
    match = _ANSWER_VALUE_RE.match(text, last.end())
    if match is None:
        return None
    # Markdown bold and inline-math delimiters are presentation, not part of the answer.
    return match.group(1).strip().strip("*").strip().strip("$")


def extract_answer(response: str, boxed_only: bool = False) -> str | None:
    """Final answer of a response: last box after the reasoning, else ``<answer>`` tag, else "answer is X".

    ``boxed_only`` (training): the box only, so a policy is never paid for skipping ``\\boxed{}``; the other
    forms are for reading evaluation responses. Returns ``""`` for an empty box (an answer was given, and it
    is empty) and None when nothing is found.
    """
    text = strip_think(response)
    for extractor in (last_boxed,) if boxed_only else (last_boxed, _answer_tag, _answer_phrase):
        found = extractor(text)
        if found is not None:
            return found.strip()
    return None


def _clean_choice_text(text: str) -> str:
    text = text.strip()
    # A few passes unwrap \text{\textbf{B}}; bounded, since each pass peels one level of an adversarial nest.
    for _ in range(4):
        text, n_unwrapped = _LATEX_WRAPPER_RE.subn(r"\1", text)
        if not n_unwrapped:
            break
    text = text.replace("$", "").replace("{", "").replace("}", "").strip()
    return _CHOICE_PREFIX_RE.sub("", text).strip()


def extract_choice(answer_text: str | None, n_options: int = 4) -> str | None:
    """Normalise a multiple-choice answer ("(b)", "B) 12", "\\text{B}", "Option B") to one upper-case letter.

    None when no option letter is named, or several distinct ones are ("A or B", "A, B, C, D"): hedging
    across options must never be graded correct.
    """
    if not answer_text:
        return None
    text = _clean_choice_text(answer_text)
    bare = _BARE_CHOICE_RE.fullmatch(text)
    head = _HEAD_CHOICE_RE.fullmatch(text)
    if bare:
        letters = {bare.group(1).upper()}
    elif head:
        letters = {head.group(1) or head.group(2)}
        letters.update(a or b for a, b in _LABEL_LETTER_RE.findall(head.group(3)))
    else:
        letters = set(_STANDALONE_LETTER_RE.findall(_PRONOUN_I_RE.sub("", text)))
    if len(letters) != 1:
        return None
    letter = letters.pop()
    return letter if ord(letter) - ord("A") < n_options else None


def parse_number(text: str) -> float | None:
    """Parse a plain numeric answer ("1,000", "$5", "12%", "-3/4", "\\frac{3}{4}"); None if not a number."""
    text = text.strip()
    for noise in _NUMBER_NOISE:
        text = text.replace(noise, "")
    text = text.strip().rstrip(".").strip()
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    try:
        if _NUMBER_RE.fullmatch(text):
            return float(text)
        if match := _SLASH_FRACTION_RE.fullmatch(text):
            return float(match.group(1)) / float(match.group(2))
        if match := _LATEX_FRACTION_RE.fullmatch(text):
            value = float(match.group(2)) / float(match.group(3))
            return -value if match.group(1) == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def infer_kind(gold: str) -> AnswerKind:
    """Guess the answer kind of a gold answer: a single capital letter is a choice."""
    gold = gold.strip()
    # Any capital letter, not only A-D: benchmarks such as MMMU have more than four options.
    if re.fullmatch(r"\(?[A-Z]\)?", gold):
        return "choice"
    return "number" if parse_number(gold) is not None else "expression"


# --- structural guards -----------------------------------------------------------------------------
# Decided on the answer's shape alone, before any symbolic work, so that a grade never depends on how fast the
# machine is: a symbolic library asked for 1000000! or 9^{9^9} computes for minutes, and math_verify's LaTeX
# parser takes ~0.03 s per bracket level (depth 5: 0.7 s, depth 20: 2 s; measured, BENCHMARKS.md).
MAX_SYMBOLIC_CHARS = 200
"""Longest answer sent to math_verify (the paper's grader refuses over 200 too)."""
MAX_NESTING = 4
"""Deepest bracket nesting sent to math_verify; deeper arithmetic is still evaluated by
`evaluate_arithmetic`."""
MAX_BRACKETS = 40
MAX_EXPONENT = 10_000
MAX_FACTORIAL = 1000
_EXP_OP_RE = re.compile(r"\^|\*\*")
_OPEN, _CLOSE = "([{", ")]}"


def _bracket_pairs(text: str) -> tuple[dict[int, int], int]:
    """close index -> open index for balanced brackets (any kind), and the deepest nesting."""
    pairs, stack, deepest = {}, [], 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            stack.append(i)
            deepest = max(deepest, len(stack))
        elif ch in _CLOSE and stack:
            pairs[i] = stack.pop()
    return pairs, deepest


def _operand_end(text: str, start: int) -> int:
    """End of the exponent operand starting at `start`: a bracketed group, else one run of digits/letters."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] in _OPEN:
        depth = 0
        for j in range(i, len(text)):
            depth += (text[j] in _OPEN) - (text[j] in _CLOSE)
            if depth == 0:
                return j + 1
        return len(text)
    if i < len(text) and text[i] in "+-":
        i += 1
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] == "."):
        j += 1
    return j


def unbounded_reason(answer: str) -> str | None:
    """Why evaluating `answer` could take unbounded time or memory, else None: a factorial of a group or of a
    number over 1000, an exponent tower (a power of a power), an exponent over 10000, a run of 50+ digits."""
    if re.search(r"\d{50,}", answer):
        return "digit_run"
    pairs, _ = _bracket_pairs(answer)
    for m in re.finditer(r"(?<!\\)!", answer):
        before = answer[: m.start()].rstrip()
        digits = re.search(r"\d+$", before)
        if not before or before[-1] in _CLOSE + "!" or (digits and int(digits.group()) > MAX_FACTORIAL):
            return "factorial"
    for m in _EXP_OP_RE.finditer(answer):
        end = _operand_end(answer, m.end())
        operand = answer[m.end() : end]
        if _EXP_OP_RE.search(operand) or _EXP_OP_RE.match(answer[end:].lstrip()):
            return "exponent_tower"
        left = m.start() - 1
        while left >= 0 and answer[left] == " ":
            left -= 1
        if left >= 0 and left in pairs and _EXP_OP_RE.search(answer[pairs[left] : left]):
            return "exponent_tower"
        if any(int(run) > MAX_EXPONENT for run in re.findall(r"\d+", operand)):
            return "exponent"
    return None


def parser_cost_reason(answer: str) -> str | None:
    """Why math_verify's parser would take long on `answer` (length, bracket count or depth), else None."""
    if len(answer) > MAX_SYMBOLIC_CHARS:
        return "too_long"
    if sum(answer.count(c) for c in _OPEN) > MAX_BRACKETS:
        return "brackets"
    if _bracket_pairs(answer)[1] > MAX_NESTING:
        return "nesting"
    return None


# --- arithmetic fast path --------------------------------------------------------------------------
# Exact-valued LaTeX arithmetic (integers, \frac, \sqrt, \pi, powers) is evaluated here in microseconds;
# math_verify (an ANTLR parser plus sympy, 3-100 ms per comparison) is kept for everything else. Tests check
# that both agree.
_ARITH_TOKEN_RE = re.compile(
    r"\s+|\\[,;:! ]|\\left|\\right|\\[dt]?frac|\\sqrt|\\pi|\\cdot|\\times|\\div|"
    r"\d+(?:\.\d+)?|\*\*|[-+*/^(){}\[\]]"
)
_IMPLICIT = ("\\sqrt", "\\pi", "\\frac", "\\dfrac", "\\tfrac")


class _NotArithmetic(Exception):
    pass


class _Arith:
    """Recursive descent over the token list; any unsupported shape raises `_NotArithmetic`."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _NotArithmetic
        self.i += 1
        return tok

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                value *= self.factor()
            elif tok in ("/", "\\div"):
                self.take()
                value /= self.factor()
            elif tok in _IMPLICIT:  # 2\sqrt{3}, 3\pi; "2(3)" and "1 2" stay ambiguous and go to math_verify
                value *= self.factor()
            else:
                return value

    def factor(self) -> float:
        if self.peek() in ("-", "+"):
            return -self.factor() if self.take() == "-" else self.factor()
        base = self.primary()
        if self.peek() in ("^", "**"):
            self.take()
            exponent = self.group() if self.peek() in ("{", "(") else self.digit()
            if self.peek() in ("^", "**") or abs(exponent) > MAX_EXPONENT:
                raise _NotArithmetic
            if base < 0 and exponent != int(exponent):
                raise _NotArithmetic
            return math.pow(base, exponent)
        return base

    def digit(self) -> float:
        tok = self.take()
        if not (len(tok) == 1 and tok.isdigit()):  # LaTeX reads 2^10 as 2^1 0; math_verify as 2^{10}
            raise _NotArithmetic
        return float(tok)

    def group(self) -> float:
        close = {"{": "}", "(": ")"}[self.take()]
        value = self.expr()
        self.take(close)
        return value

    def arg(self) -> float:
        return self.group() if self.peek() == "{" else self.digit()

    def primary(self) -> float:
        tok = self.peek()
        if tok == "(":  # a bare {...} is a set to math_verify, so it is not arithmetic here
            return self.group()
        self.take()
        if tok == "\\pi":
            return math.pi
        if tok in ("\\frac", "\\dfrac", "\\tfrac"):
            numerator = self.arg()
            return numerator / self.arg()
        if tok == "\\sqrt":
            root = 2.0
            if self.peek() == "[":
                self.take()
                root = self.expr()
                self.take("]")
            radicand = self.arg()
            if radicand < 0 or root == 0:
                raise _NotArithmetic
            return math.pow(radicand, 1.0 / root)
        if tok[0].isdigit():
            return float(tok)
        raise _NotArithmetic


def evaluate_arithmetic(text: str) -> float | None:
    """The value of a constant LaTeX arithmetic expression ("2\\sqrt{3}", "\\frac{\\pi}{6}", "10^2"), else
    None (variables, text, decimals with exponents, ambiguous juxtaposition such as "1 2" or "2(3)",
    non-finite)."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _ARITH_TOKEN_RE.match(text, pos)
        if m is None:
            return None
        tok = m.group()
        if not (tok.isspace() or tok in ("\\left", "\\right") or tok[:1] == "\\" and tok[1:2] in ",;:! "):
            tokens.append(tok)
        pos = m.end()
    if not tokens:
        return None
    parser = _Arith(tokens)
    try:
        value = parser.expr()
    except (_NotArithmetic, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None
    return value if parser.i == len(tokens) and math.isfinite(value) else None


def arithmetic_equal(gold: str, pred: str) -> bool | None:
    """True/False where both sides are constant arithmetic and the fast path can decide, else None.

    Equal within 1e-9 is equal. Unequal values decide False only when neither side is written with decimals:
    math_verify rounds to the precision a decimal is written with ("0.333333" equals 1/3), which is left to
    it.
    """
    a, b = evaluate_arithmetic(gold), evaluate_arithmetic(pred)
    if a is None or b is None:
        return None
    if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        return True
    return False if "." not in gold and "." not in pred else None


def _math_verify_parse(text: str) -> list:
    text = text.strip().strip("$").strip()
    # math_verify extracts LaTeX only from \boxed{} or $...$, so wrap the bare answer; timeouts are ours.
    parsed = math_verify.parse(f"\\boxed{{{text}}}", parsing_timeout=None)
    return parsed or math_verify.parse(f"${text}$", parsing_timeout=None)


def _math_verify_equal(gold: str, pred: str) -> bool:
    gold_parsed, pred_parsed = _math_verify_parse(gold), _math_verify_parse(pred)
    if not gold_parsed or not pred_parsed:
        return False
    # math_verify.verify is asymmetric: gold first.
    return bool(math_verify.verify(gold_parsed, pred_parsed, timeout_seconds=None))


class MathWorker:
    """A child Python process that runs math_verify, killed and replaced when a comparison runs over time.

    math_verify (antlr parsing, sympy) can run for minutes on adversarial answers, partly inside C code that
    no signal or thread can interrupt, and a SIGALRM set in the main thread is not reliably acted on once
    other threads exist (tqdm monitors, data loaders): the test suite hung on it. A process can always be
    killed. The child runs this very file, so the module stays self-contained (EasyR1 export copies it).
    """

    START_TIMEOUT_S = 120.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner_pid = os.getpid()

    def _start(self) -> subprocess.Popen[bytes]:
        code = f"import runpy; runpy.run_path({os.path.abspath(__file__)!r}, run_name='__main__')"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--math-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert proc.stdout is not None
        ready = select.select([proc.stdout], [], [], self.START_TIMEOUT_S)[0]
        if not ready or proc.stdout.readline() != b"ready\n":
            proc.kill()
            code = proc.wait()
            raise RuntimeError(
                f"math_verify worker ({sys.executable}) did not start within "
                f"{self.START_TIMEOUT_S} s (exit code {code}; is math-verify installed in that "
                "interpreter?)"
            )
        return proc

    def close(self) -> None:
        if self.proc is not None and self.owner_pid == os.getpid():
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the child exits on its own when its stdin closes
            pass

    def call(self, target: str | None, args: list, timeout_s: float) -> object:
        """``target(*args)`` in the child (``"module:function"``; None: math_verify equivalence of gold,
        pred).

        Arguments and result travel as JSON. ``TimeoutError`` (and the child is killed) past ``timeout_s``;
        ``RuntimeError`` when the function raised or the child died.
        """
        if self.owner_pid != os.getpid():  # forked: the pipes belong to the parent's worker
            self.proc, self.owner_pid = None, os.getpid()
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps({"target": target, "args": args}).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as error:  # the child died since the last call
            self.close()
            raise RuntimeError("math_verify worker died") from error
        if not select.select([self.proc.stdout], [], [], timeout_s)[0]:
            self.close()
            raise TimeoutError(f"{target or 'math_verify'} timed out after {timeout_s} s")
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("math_verify worker died")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["value"]


_workers = threading.local()  # one child per thread, so concurrent graders never share a pipe
# Weak: a thread's worker (and so its child, see __del__) goes when the thread does.
_all_workers: weakref.WeakSet[MathWorker] = weakref.WeakSet()


def _thread_worker() -> MathWorker:
    worker = getattr(_workers, "worker", None)
    if worker is None:
        worker = _workers.worker = MathWorker()
        _all_workers.add(worker)
    return worker


@atexit.register
def _close_workers() -> None:
    for worker in list(_all_workers):
        worker.close()


def call_killable(target: str, *args: object, timeout_s: float) -> object:
    """Run ``"module:function"`` on JSON-able ``args`` in this thread's child process; killed past
    ``timeout_s``.

    For library code that can run away on model output (sympy, LaTeX parsers): raises ``TimeoutError`` or
    ``RuntimeError`` (the function raised; its message is kept) and never leaves anything running.
    """
    return _thread_worker().call(target, list(args), timeout_s)


def _serve_math_worker() -> None:
    """The child's loop: one JSON request per line on stdin, one JSON reply per line on stdout."""
    # Replies go to a private copy of stdout; anything the libraries print goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            if request["target"] is None:
                fn: Callable[..., object] = _math_verify_equal
            else:
                module, _, name = request["target"].partition(":")
                fn = getattr(importlib.import_module(module), name)
            line = json.dumps({"value": fn(*request["args"])})
        except Exception as error:  # to the parent (also a result JSON cannot carry); the child lives on
            line = json.dumps({"error": f"{type(error).__name__}: {error}"})
        out.write(line.encode() + b"\n")
        out.flush()


def symbolic_equal(gold: str, pred: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> tuple[bool, str]:
    """math_verify equivalence as ``(equal, reason)``, reason ``correct``/``wrong``/``timeout``/``error``.

    With a timeout the comparison runs in this thread's child process (`MathWorker`), killed when time runs
    out (a safety net: the guards in `math_equal` keep known slow shapes away); ``timeout_s=None`` runs it
    here.
    """
    if timeout_s is None or timeout_s <= 0:
        try:
            equal = _math_verify_equal(gold, pred)
        except Exception:
            logger.debug("math_verify failed (gold=%.200r pred=%.200r)", gold, pred, exc_info=True)
            return False, "error"
        return equal, "correct" if equal else "wrong"
    return worker_equal(None, [gold, pred], timeout_s, "math_verify", gold, pred)


def worker_equal(
    target: str | None, args: list, timeout_s: float, what: str, gold: str, pred: str
) -> tuple[bool, str]:
    """A comparison run in this thread's `MathWorker` (`target`: "module:function", None for math_verify) as
    ``(equal, reason)``: a timeout or a failure scores 0 with its reason, logged with the two answers."""
    try:
        equal = bool(_thread_worker().call(target, args, timeout_s))
        return equal, "correct" if equal else "wrong"
    except TimeoutError:
        logger.warning(
            "%s timed out after %s s, scored 0 (gold=%.200r pred=%.200r)", what, timeout_s, gold, pred
        )
        return False, "timeout"
    except Exception:
        logger.debug("%s failed (gold=%.200r pred=%.200r)", what, gold, pred, exc_info=True)
        return False, "error"


def math_equal(gold: str, pred: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
    """Equivalence: the arithmetic fast path, else math_verify; False on a guard, timeout or any error."""
    fast = arithmetic_equal(gold, pred)
    if fast is not None:
        return fast
    if any(unbounded_reason(x) or parser_cost_reason(x) for x in (gold, pred)):
        logger.debug("answer too complex for math_verify (gold=%.200r pred=%.200r)", gold, pred)
        return False
    return symbolic_equal(gold, pred, timeout_s)[0]


def prejudge(pred: str | None, gold: str, kind: str, n_options: int | None = None) -> tuple[bool | None, str]:
    """Grade without symbolic work: ``(correct, reason)``, or ``(None, "symbolic")`` when only math_verify can
    decide (``symbolic_equal(gold.strip(), pred.strip())``). Deterministic and bounded: structural guards
    (`unbounded_reason`, `parser_cost_reason`) refuse an answer with reason ``too_complex:<which>``."""
    if pred is None or gold is None:
        return False, "no_answer"
    pred, gold = pred.strip(), gold.strip()
    if not pred or not gold:  # an empty box is never an answer
        return False, "empty"
    kind = kind.strip().lower()
    kind = "expression" if kind == "math" else kind
    if kind == "choice":
        gold_letter = extract_choice(gold, 26) or gold.upper()
        if n_options is None:
            n_options = max(4, ord(gold_letter[0]) - ord("A") + 1)
        ok = extract_choice(pred, n_options) == gold_letter
        return ok, "correct" if ok else "wrong"
    if kind not in ("number", "expression"):
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {ANSWER_KINDS} or 'math'")
    if kind == "number":
        pred_value, gold_value = parse_number(pred), parse_number(gold)
        if pred_value is not None and gold_value is not None:
            ok = math.isclose(pred_value, gold_value, rel_tol=1e-6, abs_tol=0.0)
            return ok, "correct" if ok else "wrong"
    elif " ".join(pred.split()) == " ".join(gold.split()):
        return True, "correct"
    too_complex = unbounded_reason(pred) or unbounded_reason(gold)
    if too_complex:
        return False, f"too_complex:{too_complex}"
    fast = arithmetic_equal(gold, pred)
    if fast is not None:
        return fast, "correct" if fast else "wrong"
    too_complex = parser_cost_reason(pred) or parser_cost_reason(gold)
    if too_complex:
        return False, f"too_complex:{too_complex}"
    return None, "symbolic"


def grade_reason(
    pred: str | None,
    gold: str,
    kind: str,
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    n_options: int | None = None,
) -> tuple[bool, str]:
    """`grade` with the reason (``correct``, ``wrong``, ``no_answer``, ``empty``, ``too_complex:...``,
    ``timeout``, ``error``)."""
    verdict, reason = prejudge(pred, gold, kind, n_options)
    if verdict is None:
        assert pred is not None
        return symbolic_equal(gold.strip(), pred.strip(), timeout_s)
    return verdict, reason


def grade(
    pred: str | None,
    gold: str,
    kind: str,
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    n_options: int | None = None,
) -> bool:
    """Is the extracted answer ``pred`` correct? ``kind`` is "choice", "number" or "expression" ("math").

    ``n_options`` bounds the valid choice letters; by default at least four and enough to include gold.
    """
    return grade_reason(pred, gold, kind, timeout_s=timeout_s, n_options=n_options)[0]


def format_ok(response: str) -> bool:
    """The paper's format rule: ``FORMAT_PATTERN`` matches the stripped response, with one think block.

    Equivalent to ``FORMAT_PATTERN.fullmatch`` under the single-think-block condition, but linear-time:
    the regex backtracks quadratically on responses with many unclosed ``\\boxed{``.
    """
    text = response.strip()
    if not text.startswith(THINK_OPEN) or text.count(THINK_OPEN) != 1 or text.count(THINK_CLOSE) != 1:
        return False
    tail = text[text.index(THINK_CLOSE) + len(THINK_CLOSE) :]
    # The first box leaves the most room for a closing brace after it.
    box = tail.find("\\boxed{")
    return box != -1 and tail.find("}", box + len("\\boxed{")) != -1


if __name__ == "__main__" and sys.argv[1:] == ["--math-worker"]:
    _serve_math_worker()
