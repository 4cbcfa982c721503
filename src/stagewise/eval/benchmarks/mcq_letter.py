"""The letter reading of Cambrian's evaluation scripts (cambrian-mllm/cambrian eval/eval/*/*_test.py
`extract_mcq_answer`), shared by CV-Bench (the Cambrian authors' benchmark) and V*Bench's generative scoring.

Lower-case the response; keep what follows the last "answer is" / "answer is:" / "answer:" (each keyword in
turn); strip blanks, one trailing "." run, leading "(" run and trailing ")" run; if more than one character
is left, keep the first.
"""

from __future__ import annotations


def cambrian_letter(text: str) -> str:
    text = text.lower().strip()
    for keyword in ("answer is", "answer is:", "answer:"):
        if keyword in text:
            text = text.split(keyword)[-1]
    text = text.strip().rstrip(".").lstrip("(").rstrip(")")
    return text[0] if len(text) > 1 else text
