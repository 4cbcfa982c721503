"""The VLM families stagewise trains, with the explicit module names behind its vision switches.

`freeze_vision: true` (the paper's textual stage), `trainer.trainable: vision` (a vision-only perception
stage) and the LoRA exclusion (`trainer.lora.vision: false`) all mean one thing for every family: the vision
tower *and* the projector/merger that maps its features into the language model. Where that projector sits
differs by family (inside `visual` on Qwen, beside the tower elsewhere, called `connector` on Idefics3), so
each family lists its modules by name here rather than stagewise guessing from attribute names: a guess
silently leaves a projector trainable under `freeze_vision` and frozen under `trainable: vision`. A model of
any other family fails with `UnsupportedModelError` naming it, before any training.

This module imports neither torch nor transformers, so the recipe loader can check a model's family cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class UnsupportedModelError(ValueError):
    """A model whose family stagewise does not know how to freeze (or whose modules are not where its family's
    table says); the message names the model and what is missing."""


@dataclass(frozen=True)
class Family:
    """One architecture family: where its vision side is and how its processor is built."""

    label: str
    """Name used in tables and messages."""
    vision_modules: tuple[str, ...]
    """Module paths (from the `...ForConditionalGeneration` model, transformers 5 layout) of the vision tower
    and the projector/merger."""
    vision_parameters: tuple[str, ...] = ()
    """Loose parameters of the vision side that belong to no module above (LLaVA-OneVision's `image_newline`,
    the learned separator appended to each row of projected image features)."""
    video_slot: bool = False
    """The processor has a video-processor slot, which cannot be built or loaded without torchvision
    (stagewise.models.processors loads it without one)."""


FAMILIES: dict[str, Family] = {
    # Qwen-VL: the patch merger is `visual.merger`, so the tower's module holds the projector too.
    "qwen2_vl": Family("Qwen2-VL", ("model.visual",), video_slot=True),
    "qwen2_5_vl": Family("Qwen2.5-VL", ("model.visual",), video_slot=True),
    "qwen3_vl": Family("Qwen3-VL", ("model.visual",), video_slot=True),
    "internvl": Family(
        "InternVL3-hf", ("model.vision_tower", "model.multi_modal_projector"), video_slot=True
    ),
    "gemma3": Family("Gemma 3", ("model.vision_tower", "model.multi_modal_projector")),
    "idefics3": Family("Idefics3 / SmolVLM", ("model.vision_model", "model.connector")),
    "smolvlm": Family("SmolVLM2", ("model.vision_model", "model.connector"), video_slot=True),
    "llava": Family("LLaVA", ("model.vision_tower", "model.multi_modal_projector")),
    "llava_onevision": Family(
        "LLaVA-OneVision",
        ("model.vision_tower", "model.multi_modal_projector"),
        vision_parameters=("model.image_newline",),
        video_slot=True,
    ),
}
"""config.json `model_type` -> family."""


def _known() -> str:
    return ", ".join(f"{k} ({f.label})" for k, f in FAMILIES.items())


def family(model_type: str, model_name: str = "") -> Family:
    """The family of a `model_type`; `UnsupportedModelError` naming `model_name` for any other."""
    if model_type not in FAMILIES:
        raise UnsupportedModelError(
            f"model {model_name or '?'} is of model type {model_type!r}, whose vision tower and projector "
            "stagewise does not know, so it cannot freeze or train them separately (freeze_vision, "
            f"trainer.trainable: vision, LoRA's vision exclusion); known model types: {_known()}. Add the "
            "family's module names to stagewise.models.families.FAMILIES"
        )
    return FAMILIES[model_type]


def folder_model_type(folder: str | Path) -> str | None:
    """`model_type` of a saved model folder's config.json (None when it has none)."""
    cfg = Path(folder) / "config.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text()).get("model_type")


def model_family(model) -> Family:
    """The family of a loaded model (a PEFT wrapper is looked through)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return family(base.config.model_type, _name(base))


def _name(model) -> str:
    return getattr(model.config, "_name_or_path", "") or type(model).__name__


def vision_parameters(model) -> dict[str, object]:
    """Name -> parameter of the vision tower and projector of `model`, by its family's module names.
    `UnsupportedModelError` for an unknown family or a module missing where the table says it is."""
    fam = model_family(model)
    out: dict[str, object] = {}
    for path in fam.vision_modules:
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise UnsupportedModelError(
                f"model {_name(model)} ({type(model).__name__}, {fam.label}) has no module {path!r}, where "
                f"stagewise.models.families expects its vision side; a different transformers layout?"
            ) from None
        out.update({f"{path}.{n}": p for n, p in module.named_parameters()})
    for path in fam.vision_parameters:
        try:
            out[path] = model.get_parameter(path)
        except AttributeError:
            raise UnsupportedModelError(
                f"model {_name(model)} ({fam.label}) has no parameter {path!r}"
            ) from None
    return out


def lora_exclude_regex(model_type: str, model_name: str = "") -> str:
    """PEFT `exclude_modules` for adapters on the language model only: the family's vision modules and
    everything under them (PEFT matches the regex against full module names)."""
    fam = family(model_type, model_name)
    names = "|".join(p.replace(".", r"\.") for p in fam.vision_modules)
    return rf"^({names})(\..*)?$"
