"""Hash splits and the exports: TRL dataset (what stagewise trains on), EasyR1/verl JSONL + parquet,
LLaMA-Factory."""

import json
from collections import Counter

import pyarrow.parquet as pq
from PIL import Image

from stagewise.data.perception.export import export, split_of
from stagewise.data.sources import load_rows, to_trl_rows


def test_split_by_hash_is_stable_and_near_the_fractions():
    ids = [f"docci-{i}" for i in range(4000)]
    counts = Counter(split_of(i) for i in ids)
    assert abs(counts["train"] / 4000 - 0.85) < 0.02 and abs(counts["val"] / 4000 - 0.05) < 0.01
    assert abs(counts["test"] / 4000 - 0.10) < 0.015
    assert [split_of(i) for i in ids[:50]] == [split_of(i) for i in ids[:50]]
    assert {split_of(i, {"train": 0.5, "test": 0.5}) for i in ids[:50]} == {"train", "test"}


def kept_items(tmp_path, n):
    (tmp_path / "src").mkdir()
    items = []
    for i in range(n):
        p = tmp_path / "src" / f"{i}.png"
        Image.new("RGB", (28, 28), (i * 9 % 255, 10, 10)).save(p)
        items.append(
            {
                "id": f"it{i:03d}",
                "image": str(p),
                "caption": f"Caption {i}.",
                "question": f"Q{i}?",
                "options": {"A": "w", "B": "x", "C": "y", "D": "z"},
                "answer": "ABCD"[i % 4],
                "kind": "detail",
                "source": "docci",
            }
        )
    return items


def test_exports_load_in_their_trainers_formats(tmp_path):
    items = kept_items(tmp_path, 30)
    out = tmp_path / "export"
    counts = export(items, out)
    assert sum(counts.values()) == 30 and counts["train"] > counts["test"]

    rows = to_trl_rows(load_rows(out / "trl" / "train"))
    assert len(rows) == counts["train"]
    first = next(i for i in items if i["id"] == rows[0]["id"])
    assert rows[0]["answer"] == first["answer"] and rows[0]["answer_kind"] == "choice"
    assert rows[0]["prompt"][0]["content"].startswith(f"{first['question']}\nA. w\nB. x\nC. y\nD. z")
    assert rows[0]["images"][0].size == (28, 28) and rows[0]["family"] == "perception"

    easy = [json.loads(x) for x in (out / "easyr1" / "train.jsonl").read_text().splitlines()]
    assert easy[0]["problem"].startswith("<image>") and easy[0]["answer"] in "ABCD"
    assert all((out / "easyr1" / e["images"][0]).exists() for e in easy)
    table = pq.read_table(out / "easyr1" / "train.parquet").to_pylist()
    assert [t["problem"] for t in table] == [e["problem"] for e in easy] and table[0]["images"] == easy[0][
        "images"
    ]

    sft = json.loads((out / "llamafactory" / "caption_sft.json").read_text())
    assert len(sft) == counts["train"]
    assert sft[0]["messages"][0]["content"] == "<image>Please generate a detailed caption"
    assert sft[0]["messages"][1]["content"].startswith("Caption ")
    assert (out / "llamafactory" / sft[0]["images"][0]).exists()
    info = json.loads((out / "llamafactory" / "dataset_info.json").read_text())
    assert info["caption_sft"]["formatting"] == "sharegpt"
    splits = json.loads((out / "splits.json").read_text())
    assert sorted(sum(splits["ids"].values(), [])) == sorted(i["id"] for i in items)

    # Same files whatever order the items come in.
    again = tmp_path / "again"
    export(list(reversed(items)), again)
    for rel in ("easyr1/train.jsonl", "easyr1/test.jsonl", "llamafactory/caption_sft.json", "splits.json"):
        assert (out / rel).read_text() == (again / rel).read_text()
