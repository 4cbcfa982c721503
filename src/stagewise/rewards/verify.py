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
# math_verify needs ~0.3 s for a 1 kB answer and ~20 s for 100 kB; no real final answer is that long.
MAX_ANSWER_CHARS = 1000

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


def extract_answer(response: str) -> str | None:
    """Final answer of a response: last box after the reasoning, else ``<answer>`` tag, else "answer is X".

    Returns ``""`` for an empty box (an answer was given, and it is empty) and None when nothing is found.
    """
    text = strip_think(response)
    for extractor in (last_boxed, _answer_tag, _answer_phrase):
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
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        assert proc.stdout is not None
        ready = select.select([proc.stdout], [], [], self.START_TIMEOUT_S)[0]
        if not ready or proc.stdout.readline() != b"ready\n":
            proc.kill()
            code = proc.wait()
            raise RuntimeError(f"math_verify worker ({sys.executable}) did not start within "
                               f"{self.START_TIMEOUT_S} s (exit code {code}; is math-verify installed in that "
                               "interpreter?)")
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
        """``target(*args)`` in the child (``"module:function"``; None: math_verify equivalence of gold, pred).

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


def math_equal(gold: str, pred: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
    """Symbolic equivalence via math_verify; False on timeout, any error, or an over-long answer.

    With a timeout the comparison runs in a child process (`MathWorker`) that is killed when time runs out;
    ``timeout_s=None`` runs it in this process with no limit.
    """
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        logger.debug("answer longer than %d chars, not sent to math_verify", MAX_ANSWER_CHARS)
        return False
    try:
        if timeout_s is None or timeout_s <= 0:
            return _math_verify_equal(gold, pred)
        return bool(_thread_worker().call(None, [gold, pred], timeout_s))
    except TimeoutError:
        logger.debug("math_verify timed out after %s s (gold=%.200r pred=%.200r)", timeout_s, gold, pred)
    except Exception:
        logger.debug("math_verify failed (gold=%.200r pred=%.200r)", gold, pred, exc_info=True)
    return False


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
    if pred is None or gold is None:
        return False
    pred, gold = pred.strip(), gold.strip()
    if not pred or not gold:  # an empty box is never an answer
        return False
    kind = kind.strip().lower()
    kind = "expression" if kind == "math" else kind
    if kind == "choice":
        gold_letter = extract_choice(gold, 26) or gold.upper()
        if n_options is None:
            n_options = max(4, ord(gold_letter[0]) - ord("A") + 1)
        return extract_choice(pred, n_options) == gold_letter
    if kind == "number":
        pred_value, gold_value = parse_number(pred), parse_number(gold)
        if pred_value is not None and gold_value is not None:
            return math.isclose(pred_value, gold_value, rel_tol=1e-6, abs_tol=0.0)
        return math_equal(gold, pred, timeout_s)
    if kind == "expression":
        return " ".join(pred.split()) == " ".join(gold.split()) or math_equal(gold, pred, timeout_s)
    raise ValueError(f"unknown answer kind {kind!r}; expected one of {ANSWER_KINDS} or 'math'")


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
