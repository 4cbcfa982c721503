"""The procedural world's held-out test splits, scored with the shared verifier (as in training rewards)."""

from __future__ import annotations

from pathlib import Path

from stagewise.rewards.verify import extract_answer, grade
from stagewise.world.tasks import FAMILIES

MODES = ("official",)
# The shared verifier extracts on its own (last box after the think block, else tag, else "answer is").
EXTRACT = "raw"


def load(
    source: str | Path, limit: int | None = None, images=None, families: list[str] | None = None
) -> list[dict]:
    """Rows of `<world>/<family>/test` for each family (all by default); `limit` is per family."""
    from stagewise.data.sources import load_rows, to_trl_rows

    rows = []
    for fam in families or FAMILIES:
        rows += from_trl_rows(
            to_trl_rows(load_rows(Path(source) / fam / "test", limit=limit), instruction=None, source=fam)
        )
    return rows


def from_trl_rows(rows: list[dict]) -> list[dict]:
    """TRL rows (prompt = chat messages, instruction already in the text) -> benchmark rows."""
    out = []
    for r in rows:
        content = r["prompt"][-1]["content"]
        text = (
            content
            if isinstance(content, str)
            else " ".join(c["text"] for c in content if c["type"] == "text")
        )
        out.append(
            {
                "id": r["id"],
                "prompt": text,
                "images": r.get("images") or [],
                "answer": r["answer"],
                "answer_kind": r.get("answer_kind") or "expression",
                "family": r.get("family", ""),
                "kind": r.get("kind", ""),
            }
        )
    return out


def prompt(row: dict) -> str:
    return row["prompt"]


def extract(text: str, row: dict, mode: str = "official") -> str | None:
    return extract_answer(text)


def score(extracted, row: dict, mode: str = "official") -> dict:
    return {
        "correct": grade(extracted, row["answer"], row["answer_kind"]),
        "family": row["family"],
        "kind": row["kind"],
        "answer": row["answer"],
    }


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    from stagewise.eval.world_eval import summarize

    return summarize(results)
