"""SFT rows built from world items: the warm start's and the pretraining's reference traces, scene inventories
("Describe what you see.") and caption-QA rows, and the order a long SFT run reads them in."""

from __future__ import annotations

import json
import random

from stagewise.data.sources import to_trl_rows


def world_sft_rows(
    raw: list[dict],
    family: str,
    instruction: str | None,
    describe: bool,
    caption_qa: int,
    style: str,
    kinds: list[str] | tuple[str, ...] = (),
) -> list[dict]:
    """SFT rows from one family's world items (the warm start's and the pretraining's): the reference traces,
    then optionally an inventory per image and caption-QA rows for the first `caption_qa` images (`kinds`: the
    `world` style's question kinds; empty: all)."""
    rows = to_trl_rows(raw, with_completion=True, instruction=instruction, source=family)
    if describe:
        rows += describe_rows(raw)
    if caption_qa:
        rows += caption_qa_rows(raw[:caption_qa], style, kinds)
    return rows


def describe_rows(raw: list[dict]) -> list[dict]:
    """SFT rows asking for the scene inventory of every world image (rows without a scene or image are
    skipped). The inventory is what the image shows (`image_scene`), also where a mis-seeing annotator wrote
    the row's questions up: like a VLM's pretraining captions, it keeps the base's eyes honest while its
    answers mis-see."""
    from stagewise.data.prompts import assistant_message
    from stagewise.world.caption import summary
    from stagewise.world.scene import Scene

    out = []
    for r in raw:
        if r.get("images") and r.get("scene"):
            seen = Scene.from_dict(json.loads(r.get("image_scene") or r["scene"]))
            out.append(
                {
                    "prompt": [{"role": "user", "content": "Describe what you see."}],
                    "images": r["images"],
                    "answer": "",
                    "answer_kind": "",
                    "id": f"describe-{r['id']}",
                    "family": "describe",
                    "kind": "describe",
                    "completion": assistant_message(summary(seen)),
                }
            )
    return out


def arrange_order(lengths: list[int], batch_size: int, steps: int, seed: int) -> list[int]:
    """Row indices in training order, `steps` batches long: each epoch reshuffled, and long rows (over twice
    the median length: the captions of caption-QA rows) batched only with each other, so that a few long rows
    do not pad most batches. Other batches stay random mixes of every task (batches sorted by length, as
    transformers' group_by_length does, made each batch one task and cost the base a third of its perception).
    Indices, so that a long warm start selects from one dataset instead of copying its rows once per epoch."""
    cut = 2 * sorted(lengths)[len(lengths) // 2]
    pools = [[i for i, n in enumerate(lengths) if n > cut], [i for i, n in enumerate(lengths) if n <= cut]]
    if len(pools[0]) < batch_size:  # too few long rows for a batch of their own
        pools = [list(range(len(lengths)))]
    rng, out = random.Random(seed), []
    while len(out) < steps * batch_size:
        batches = []
        for pool in pools:
            rng.shuffle(pool)
            batches += [pool[i : i + batch_size] for i in range(0, len(pool) - batch_size + 1, batch_size)]
        if not batches:  # fewer rows than one batch: repeat them
            batches = [[i % len(lengths) for i in range(batch_size)]]
        rng.shuffle(batches)
        out += [i for b in batches for i in b]
    return out[: steps * batch_size]


def approx_length(row: dict) -> int:
    """A row's length in tokens, roughly (4 characters a token, 16 tokens an image): only used to batch long
    rows together."""
    text = sum(
        len(part.get("text", "")) if isinstance(part, dict) else len(str(part))
        for m in row["prompt"] + row.get("completion", [])
        for part in (m["content"] if isinstance(m["content"], list) else [m["content"]])
    )
    return text // 4 + 16 * len(row.get("images") or [])


def caption_qa_rows(
    raw: list[dict], style: str = "varied", kinds: list[str] | tuple[str, ...] = ()
) -> list[dict]:
    """For every world image: one question by the perception engine's offline writer in `style`, answered once
    from the image and once from the caption, with the perception filter's own prompts. Teaches the base what
    the paper's filter models can already do: answer such questions, and read a caption. `varied` questions
    are answered with the letter alone; `world` questions with a reference trace (what is seen, then the
    letter), the way the base answers the world's own perception questions."""
    from stagewise.data.perception.filter import FilterConfig, caption_prompt, image_prompt
    from stagewise.data.perception.offline import NoQuestion, world_question, write_from_scene
    from stagewise.data.prompts import assistant_message

    cfg, out = FilterConfig(), []
    for r in raw:
        if not (r.get("images") and r.get("scene") and r.get("caption")):
            continue
        scene = json.loads(r["scene"])
        try:
            if (
                style == "world"
            ):  # answered like the world's own perception items: what is seen, then the letter
                mcq = world_question(str(r["id"]), scene, kinds)
                seen = mcq["observation"] + " "
            else:
                mcq, seen = json.loads(write_from_scene(str(r["id"]), scene, style)), ""
        except NoQuestion:
            continue
        item = {**mcq, "caption": r["caption"]}
        letter = mcq["answer"]
        answer = assistant_message(f"<think>{seen}So the answer is {letter}.</think> \\boxed{{{letter}}}")
        base = {
            "answer": letter,
            "answer_kind": "choice",
            "family": "caption_qa",
            "kind": mcq.get("kind", ""),
            "completion": answer,
        }
        out.append(
            {
                **base,
                "prompt": [{"role": "user", "content": image_prompt(cfg, item)}],
                "images": r["images"],
                "id": f"mcq-image-{r['id']}",
            }
        )
        out.append(
            {
                **base,
                "prompt": [{"role": "user", "content": caption_prompt(cfg, item)}],
                "images": [],
                "id": f"mcq-caption-{r['id']}",
            }
        )
    return out
