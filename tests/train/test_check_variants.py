"""Every variant is planned before the first one trains: the caption-SFT arm over data without captions used
to fail at its plan, after the staged and merged arms had trained."""

import json

from PIL import Image

from stagewise.cli import main


def test_an_unplannable_variant_stops_the_run_before_any_training(
    tmp_path, tiny_model_dir, caplog, micro_recipe
):
    Image.new("RGB", (56, 56), "red").save(tmp_path / "a.png")
    rows = [
        {"index": i, "problem": "What colour is it? A. red B. blue", "answer": "A", "images": ["a.png"]}
        for i in range(4)
    ]  # no caption: the caption-SFT arm has nothing to train on
    data = tmp_path / "perception.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = micro_recipe(
        tmp_path / "runs",
        {
            "name": "precheck",
            "world": {"train_size": 4, "test_size": 2},
            "model": {"source": str(tiny_model_dir)},
            "stages": [
                {
                    "name": "perception",
                    "capability": "perception",
                    "data": {"paths": [str(data)]},
                    "trainer": {
                        "steps": 1,
                        "prompts_per_step": 2,
                        "group_size": 2,
                        "max_completion_length": 4,
                        "report_to": "none",
                    },
                }
            ],
            "variants": {"staged": {}, "caption_sft": {"kind": "caption_sft"}},
            "eval": {"size": 2, "batch_size": 2, "max_new_tokens": 4},
        },
        file="r.yaml",
    )
    assert main(["run", str(recipe)]) != 0
    assert "variant 'caption_sft' cannot be planned, so nothing was trained" in caplog.text
    assert "has no 'caption'" in caplog.text
    assert not (tmp_path / "runs" / "precheck" / "staged" / "seed0" / "perception" / "manifest.json").exists()
