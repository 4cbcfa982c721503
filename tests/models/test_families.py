"""One meaning of the vision switches for every family (vision tower and projector together, by the family's
module names), LoRA's exclusion the same, processors that load without torchvision, and one clear error for a
model folder without a processor or of a family stagewise cannot freeze."""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil

import pytest
import torch
import transformers as T
from vision_sides import VISION

from stagewise.config import LoRAConfig, RecipeError, TrainerConfig, load_recipe
from stagewise.models.families import FAMILIES, UnsupportedModelError, vision_parameters
from stagewise.models.load import ProcessorMissingError, load_model_and_processor, load_processor
from stagewise.models.tiny_families import FAMILY_NAMES, build_family_model
from stagewise.train.common import freeze_language, freeze_vision, parameter_counts

PROJECTOR_WORDS = ("merger", "projector", "connector", "image_newline")


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    from stagewise.models.tiny import world_corpus

    corpus = world_corpus(50)
    root = tmp_path_factory.mktemp("families")
    return {f: build_family_model(f, root / f, corpus) for f in FAMILY_NAMES}


def _load(folder):
    return load_model_and_processor(folder, dtype=torch.float32)


def test_torchvision_is_absent_here():
    """The matrix is meant to show the processors load without it (NOTES.md: it breaks this torch build)."""
    assert importlib.util.find_spec("torchvision") is None


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_switches_freeze_tower_and_projector_together(family, family_dirs):
    model, processor = _load(family_dirs[family])
    assert hasattr(processor, "image_processor")
    names = {n for n, _ in model.named_parameters()}
    expected = {n for n in names if n.startswith(VISION[family])}
    assert set(vision_parameters(model)) == expected
    # every projector-like parameter is on the vision side (the bug: projectors left out of freeze_vision)
    assert {n for n in names if any(w in n for w in PROJECTOR_WORDS)} <= expected
    n_vision = sum(p.numel() for n, p in model.named_parameters() if n in expected)
    total = parameter_counts(model)["total"]
    assert freeze_vision(model) == n_vision
    assert parameter_counts(model) == {"total": total, "trainable": total - n_vision, "frozen": n_vision}

    model, _ = _load(family_dirs[family])
    assert freeze_language(model) == total - n_vision
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_lora_leaves_the_same_modules_out(family, family_dirs):
    from peft import get_peft_model

    from stagewise.train.grpo import peft_config

    model, _ = _load(family_dirs[family])
    peft = get_peft_model(model, peft_config(TrainerConfig(lora=LoRAConfig(r=2)), model))
    adapted = [n for n, _ in peft.named_parameters() if "lora_" in n]
    assert adapted
    on_vision = [n for n in adapted if any(p.rstrip(".") in n for p in VISION[family])]
    assert not on_vision, on_vision[:3]


def test_lora_vision_true_adapts_the_vision_side_too(family_dirs):
    from peft import get_peft_model

    from stagewise.train.grpo import peft_config

    model, _ = _load(family_dirs["idefics3"])
    peft = get_peft_model(model, peft_config(TrainerConfig(lora=LoRAConfig(r=2, vision=True)), model))
    assert any("connector" in n and "lora_" in n for n, _ in peft.named_parameters())


def test_saved_folders_name_the_real_processor_class(family_dirs):
    for family in ("qwen2_5_vl", "qwen3_vl", "internvl", "llava_onevision"):
        saved = json.loads((family_dirs[family] / "processor_config.json").read_text())["processor_class"]
        assert (
            saved
            == {
                "qwen2_5_vl": "Qwen2_5_VLProcessor",
                "qwen3_vl": "Qwen3VLProcessor",
                "internvl": "InternVLProcessor",
                "llava_onevision": "LlavaOnevisionProcessor",
            }[family]
        )


def test_a_folder_without_processor_is_one_clear_error(family_dirs, tmp_path):
    folder = tmp_path / "weights-only"
    folder.mkdir()
    for f in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(family_dirs["gemma3"] / f, folder / f)
    with pytest.raises(ProcessorMissingError, match="weights-only has no processor"):
        load_processor(folder)
    with pytest.raises(ProcessorMissingError, match="save one beside the weights"):
        load_model_and_processor(folder)


def _paligemma(tmp_path):
    """A family stagewise has no module names for (PaliGemma), built and saved like the others."""
    from stagewise.models.tiny_families import SIGLIP, TEXT

    config = T.PaliGemmaConfig(
        text_config={"model_type": "gemma", **TEXT, "vocab_size": 300},
        vision_config=SIGLIP,
        projection_dim=64,
    )
    model = T.AutoModelForImageTextToText.from_config(config)
    model.save_pretrained(tmp_path / "paligemma")
    return model, tmp_path / "paligemma"


def test_a_family_stagewise_cannot_freeze_is_named(tmp_path):
    model, folder = _paligemma(tmp_path)
    assert "paligemma" not in FAMILIES
    with pytest.raises(UnsupportedModelError, match=r"model type 'paligemma'.*known model types: qwen2_vl"):
        freeze_vision(model)
    # ... and a recipe that freezes it is refused at load, naming the model and the switch
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"model: {{source: {folder}}}\nstages:\n  - name: textual\n    data: {{families: [textual]}}\n"
        "    freeze_vision: true\n"
    )
    with pytest.raises(RecipeError, match=rf"{folder}.*paligemma.*stages\[0\].freeze_vision"):
        load_recipe(recipe)
    # without a vision switch the family does not matter
    recipe.write_text(
        f"model: {{source: {folder}}}\nstages:\n  - name: textual\n    data: {{families: [textual]}}\n"
    )
    load_recipe(recipe)


def test_trl_still_passes_llava_onevisions_batch_num_images_on(family_dirs):
    """Why StageGRPOTrainer drops `batch_num_images` (if TRL accepts it one day, this test says so)."""
    from PIL import Image
    from trl import GRPOTrainer

    assert (
        "batch_num_images" not in inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters
    )
    _, processor = _load(family_dirs["llava_onevision"])
    out = processor(images=[[Image.new("RGB", (40, 40))]], text=["<image> hi"], return_tensors="pt")
    assert "batch_num_images" in out


def test_llava_onevision_with_several_images_per_prompt_is_refused():
    from stagewise.train.grpo import StageGRPOTrainer

    trainer = StageGRPOTrainer.__new__(StageGRPOTrainer)  # only the method is exercised
    with pytest.raises(ValueError, match="several images"):
        trainer._get_per_token_logps_and_entropies(None, None, None, 1, batch_num_images=[1, 2])
