"""`stagewise model --pretrain-steps`: a tiny preset trained on a world of its own, written as a plain model folder."""

import json

import torch
from safetensors.torch import load_file

from stagewise.cli import main
from stagewise.models.load import load_model_and_processor


def test_pretraining_writes_a_trained_loadable_model_and_cleans_up(tmp_path):
    out = tmp_path / "pretrained"
    assert main(["model", "--out", str(out), "--pretrain-steps", "3", "--pretrain-size", "6",
                 "--corpus-size", "30", "--threads", "1"]) == 0
    meta = json.loads((out / "pretrain.json").read_text())
    assert meta["steps"] == 3 and meta["size"] == 6 and meta["world_seed"] == 1
    assert not (out / "work").exists() and not (out / "checkpoints").exists()  # only the model is kept
    assert not (out / "training_args.bin").exists()
    model, processor = load_model_and_processor(str(out), dtype=torch.float32)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert json.loads((out / "stagewise_model.json").read_text())["preset"] == "tiny"
    # Trained: the same preset and seed built without pretraining has other weights.
    assert main(["model", "--out", str(tmp_path / "init"), "--corpus-size", "30"]) == 0
    trained, init = load_file(out / "model.safetensors"), load_file(tmp_path / "init" / "model.safetensors")
    assert trained.keys() == init.keys()
    assert any(not torch.equal(trained[k], init[k]) for k in trained)
