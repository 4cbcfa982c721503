"""Resuming a stage from a Trainer checkpoint with the checkpoint's weights, for every architecture.

Why this exists: transformers 5 saves a model (checkpoints included) in the *original* hub layout of its
architecture (`save_pretrained(save_original_format=True)` reverts its weight conversions, e.g. Qwen2-VL's
`model.language_model.*` back to `model.*`), but `Trainer._load_from_checkpoint` reads the safetensors file
and calls `model.load_state_dict(sd, strict=False)` without converting the keys back. For Qwen2-VL 0 of 81
keys match, nothing loads, and the stage silently resumes from its starting weights with the checkpoint's step
counter and optimizer. Loading through `from_pretrained` applies the same conversion mapping the model was
built with, for any architecture, and its loading report tells us whether every weight was found.
"""

from __future__ import annotations

import logging
from pathlib import Path

# torch and transformers are imported where used: the CLI imports CheckpointError on every start.
log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint whose weights do not all load into the model being resumed."""


def _listed(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_checkpoint_weights(model, checkpoint_dir: str | Path) -> None:
    """Load every weight of `checkpoint_dir` into `model` in place, or raise CheckpointError naming what did
    not load (never a silent partial load). Single-file and sharded safetensors both work."""
    import torch

    checkpoint_dir = Path(checkpoint_dir)
    with torch.device("cpu"):
        # The model's own config: a checkpoint of another shape is then reported, not silently rebuilt.
        saved, info = type(model).from_pretrained(
            str(checkpoint_dir),
            config=model.config,
            dtype="auto",
            ignore_mismatched_sizes=True,  # reported below, by name
            output_loading_info=True,
        )
    problems = []
    if info.get("missing_keys"):
        problems.append(f"missing from the checkpoint: {_listed(info['missing_keys'])}")
    if info.get("unexpected_keys"):
        problems.append(f"in the checkpoint but not in the model: {_listed(info['unexpected_keys'])}")
    if info.get("mismatched_keys"):
        problems.append(f"of another shape: {_listed(k for k, *_ in info['mismatched_keys'])}")
    if problems:
        raise CheckpointError(
            f"{checkpoint_dir}: its weights do not match {type(model).__name__} ("
            + "; ".join(problems)
            + "); refusing to resume from it. Rerun with --redo for "
            "this stage to train it from its start"
        )
    result = model.load_state_dict(saved.state_dict(), strict=False)
    # Strictness by hand: keys the model does not persist (non-persistent buffers) are neither side's problem.
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{checkpoint_dir}: {len(result.missing_keys)} weights of {type(model).__name__} "
            f"not set ({_listed(result.missing_keys)}); {len(result.unexpected_keys)} unexpected "
            f"({_listed(result.unexpected_keys)})"
        )
    del saved
    log.info("loaded %d weights from %s", len(model.state_dict()), checkpoint_dir)


class CheckpointWeightsMixin:
    """For a transformers Trainer subclass: resume with the checkpoint's weights (see module docstring).

    DeepSpeed, FSDP and PEFT adapters restore weights through their own (key-preserving) formats and keep
    transformers' path."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from transformers import PreTrainedModel
        from transformers.trainer import _is_peft_model

        model = self.model if model is None else model
        if (
            self.is_fsdp_enabled
            or self.is_deepspeed_enabled
            or _is_peft_model(model)
            or not isinstance(model, PreTrainedModel)
        ):
            return super()._load_from_checkpoint(resume_from_checkpoint, model=model)
        load_checkpoint_weights(model, resume_from_checkpoint)
