"""Helpers for the perception data engine tests (a DOCCI-layout folder, a valid writer reply)."""

import json


def write_docci(root, captions: dict[str, str], broken: dict[str, str] | None = None):
    """A DOCCI-layout folder: `descriptions.jsonl` + `images/`; `broken` maps an id to 'missing' or
    'unreadable'."""
    from PIL import Image

    broken = broken or {}
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (rid, caption) in enumerate(captions.items()):
        name = f"{rid}.png"
        if broken.get(rid) == "unreadable":
            (root / "images" / name).write_bytes(b"not a png at all")
        elif broken.get(rid) != "missing":
            Image.new("RGB", (28, 28), (10 * i % 255, 40, 90)).save(root / "images" / name)
        lines.append(json.dumps({"example_id": rid, "description": caption, "image_file": name}))
    path = root / "descriptions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def good_reply(text: str) -> str:
    """A valid item whose answer depends on the caption's last word (so replies differ per item)."""
    word = text.strip().split()[-1]
    return json.dumps(
        {
            "question": f"What is shown about {word}?",
            "options": {"A": f"{word} one", "B": f"{word} two", "C": f"{word} three", "D": f"{word} four"},
            "answer": "ABCD"[len(word) % 4],
        }
    )
