"""What must count as the vision side (tower and projector/merger) of each family, written out independently
of stagewise.models.families, as the transformers 5 classes name the modules (shared by the family tests)."""

VISION = {
    "qwen2_vl": ("model.visual.",),
    "qwen2_5_vl": ("model.visual.",),
    "qwen3_vl": ("model.visual.",),
    "internvl": ("model.vision_tower.", "model.multi_modal_projector."),
    "gemma3": ("model.vision_tower.", "model.multi_modal_projector."),
    "idefics3": ("model.vision_model.", "model.connector."),
    "llava_onevision": ("model.vision_tower.", "model.multi_modal_projector.", "model.image_newline"),
}
