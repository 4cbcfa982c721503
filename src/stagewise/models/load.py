"""Load any VLM (hub id or local folder) with its processor; the tiny model goes through the same call.

`load_model_and_processor` checks the reference first (`check_model_ref`), so a typo fails within seconds with
a message naming it instead of an OSError from transformers a minute later.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

log = logging.getLogger(__name__)


def _saved_processor_class(path: Path) -> str | None:
    cfg = path / "processor_config.json"
    return json.loads(cfg.read_text()).get("processor_class") if cfg.exists() else None


class ProcessorMissingError(FileNotFoundError):
    """A model folder without a saved processor: its images could not be turned into the model's inputs."""


_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def load_processor(name_or_path: str | Path):
    """The model's processor: the family's own, image-only where its video slot cannot load here (no
    torchvision: stagewise.models.processors). A local folder without one is a `ProcessorMissingError` naming
    it."""
    from stagewise.models.families import folder_model_type
    from stagewise.models.processors import IMAGE_ONLY, needs_image_only

    path = Path(name_or_path)
    local = path.is_dir()
    if local and not any((path / f).is_file() for f in _PROCESSOR_FILES):
        raise ProcessorMissingError(
            f"model folder {name_or_path} has no processor (none of {', '.join(_PROCESSOR_FILES)}), so its "
            "images cannot be prepared for the model; save one beside the weights "
            "(processor.save_pretrained(folder)), e.g. copied from the model the folder was trained from"
        )
    if _saved_processor_class(path) == "TinyQwen2VLProcessor":
        from stagewise.models.tiny import TinyQwen2VLProcessor

        # AutoProcessor would silently return only the tokenizer for this folder (and drop the images).
        processor = TinyQwen2VLProcessor.from_pretrained(str(path))
        # Folders saved before padding_side was stored default to right padding, which misaligns TRL's
        # mm_token_type_ids with its left-padded prompts in GRPO.
        processor.tokenizer.padding_side = "left"
        return processor
    model_type = folder_model_type(path) if local else _hub_model_type(str(name_or_path))
    if needs_image_only(model_type):
        return IMAGE_ONLY[model_type].from_pretrained(str(name_or_path))
    processor = AutoProcessor.from_pretrained(str(name_or_path))
    if not hasattr(processor, "image_processor"):
        raise ValueError(
            f"{name_or_path}: AutoProcessor returned {type(processor).__name__}, which has no image "
            "processor; images would be silently dropped"
        )
    return processor


def _hub_model_type(repo_id: str) -> str | None:
    """`model_type` of a hub model's config (from the cache, or fetched as transformers would)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(repo_id).model_type
    except (OSError, ValueError):
        return None


def load_model(name_or_path: str | Path, dtype: torch.dtype | str = "auto", **kwargs):
    return AutoModelForImageTextToText.from_pretrained(str(name_or_path), dtype=dtype, **kwargs)


def load_model_and_processor(name_or_path: str | Path, dtype: torch.dtype | str = "auto", **kwargs):
    """A hub id or a local path, checked first by `check_model_ref` (no silent hub lookup for a typo)."""
    check_model_ref(name_or_path)
    return load_model(name_or_path, dtype=dtype, **kwargs), load_processor(name_or_path)


def resolve_dtype(name: str) -> torch.dtype:
    """A recipe's `model.dtype`: `auto` is bfloat16 on a CUDA GPU that has it, float32 elsewhere (CPU kernels
    of bfloat16 are slow and some are missing)."""
    if name == "auto":
        return (
            torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
        )
    if name not in ("bfloat16", "float16", "float32"):
        raise ValueError(f"unknown dtype {name!r}; expected auto, bfloat16, float16 or float32")
    return getattr(torch, name)


def load_for_inference(name_or_path: str | Path, dtype: str = "auto", attn_implementation: str | None = None):
    """Model and processor for generation only (evaluation, pass rates, the perception filter, diagnosis): in
    `dtype`, on the GPU(s) when there are any (spread over them by accelerate when the model needs it), in
    eval mode. On CPU it is the float32 model it always was."""
    kwargs: dict = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if torch.cuda.is_available():
        kwargs["device_map"] = "auto"
    model, processor = load_model_and_processor(name_or_path, dtype=resolve_dtype(dtype), **kwargs)
    model.eval()
    log.info("loaded %s for inference: %s on %s", name_or_path, model.dtype, model.device)
    return model, processor


def load_for_training(
    name_or_path: str | Path, dtype: str = "float32", attn_implementation: str | None = None
):
    """Model and processor a stage trains: on the CPU in `dtype` (the trainer moves it to its device, or
    DeepSpeed ZeRO-3 shards it as it loads when the trainer's config was built first: train/pipeline.py)."""
    kwargs: dict = {"attn_implementation": attn_implementation} if attn_implementation else {}
    return load_model_and_processor(name_or_path, dtype=resolve_dtype(dtype), **kwargs)


class ModelNotFoundError(FileNotFoundError):
    """A model reference that names neither a saved model folder nor a model on the Hub or in its cache."""


HUB_TIMEOUT_S = 8.0
"""How long `check_model_ref` waits for the Hub to answer (connection and reply together)."""


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None else value.strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE, as huggingface_hub read it at import or as the environment says
    now (either is enough: huggingface_hub refuses every request once it is offline)."""
    from huggingface_hub import constants

    return (
        bool(constants.HF_HUB_OFFLINE)
        or bool(_env_flag("HF_HUB_OFFLINE"))
        or bool(_env_flag("TRANSFORMERS_OFFLINE"))
    )


def hub_cache_dir() -> Path:
    """The hub cache transformers reads: HF_HUB_CACHE, else HF_HOME/hub, else huggingface_hub's default."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _looks_local(ref: str) -> bool:
    return (
        ref.startswith((".", "/", "~"))
        or "\\" in ref
        or ref.count("/") > 1
        or Path(ref).expanduser().exists()
    )


def _check_folder(path: Path, ref: str) -> None:
    if not path.exists():
        raise ModelNotFoundError(f"model folder not found: {ref}")
    if not path.is_dir():
        raise ModelNotFoundError(f"model {ref!r} is a file, not a model folder (one with a config.json)")
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"model folder {ref} has no config.json, so it holds no saved model (an unfinished "
            "stage or a wrong folder?)"
        )


def _in_cache(repo_id: str, cache: Path) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json", cache_dir=cache), str)


def _ask_hub(repo_id: str, endpoint: str, timeout: float) -> BaseException | None:
    """None if the Hub knows `repo_id`, else what went wrong; never waits much longer than `timeout`."""
    from huggingface_hub import HfApi

    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            HfApi(endpoint=endpoint).model_info(repo_id, timeout=timeout)
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - reported to the caller, who names it
            outcome.append(e)

    thread = threading.Thread(target=ask, name=f"hub-check-{repo_id}", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)  # DNS lookups are not covered by the HTTP timeout
    return outcome[0] if outcome else TimeoutError(f"no answer within {timeout:g} s")


def check_model_ref(name_or_path: str | Path, timeout: float = HUB_TIMEOUT_S) -> str:
    """Check within seconds that a model reference can be loaded; returns where it is: `local` (a folder with
    a config.json), `cache` (a hub id in the local hub cache) or `hub` (the Hub knows it). A `Path`, a
    reference starting with `.`, `/` or `~`, one with more than one `/` and anything that exists on disk is a
    folder; otherwise it is a hub id (`org/name`), looked for in the cache and then, unless HF_HUB_OFFLINE is
    set, asked of the Hub (HF_ENDPOINT) with a `timeout`. Raises `ModelNotFoundError` naming the reference."""
    ref = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_local(ref):
        _check_folder(Path(ref).expanduser(), ref)
        return "local"
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(ref)
    except HFValidationError as e:
        raise ModelNotFoundError(
            f"model {ref!r} is neither a model folder (none exists) nor a valid hub id (org/name): {e}"
        ) from None
    cache = hub_cache_dir()
    if _in_cache(ref, cache):
        return "cache"
    also = f"; no folder {Path(ref).resolve()} exists either" if "/" in ref else ""
    if hub_offline():
        raise ModelNotFoundError(
            f"model {ref!r} not found in the local cache ({cache}) and HF_HUB_OFFLINE is set, "
            f"so the Hub was not asked{also}"
        )
    endpoint = hub_endpoint()
    err = _ask_hub(ref, endpoint, timeout)
    if err is None:
        return "hub"
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, GatedRepoError):
        raise ModelNotFoundError(
            f"model {ref!r} is gated on the Hub ({endpoint}): accept its terms on its page and "
            "log in (HF_TOKEN)"
        ) from None
    if isinstance(err, RepositoryNotFoundError) or status in (401, 404):
        raise ModelNotFoundError(
            f"model {ref!r} not found on the Hub ({endpoint}) or in the local cache ({cache}); "
            f"check the id, or log in (HF_TOKEN) for a private model{also}"
        ) from None
    detail = f"HTTP {status}" if status else f"{type(err).__name__}: {err}"
    raise ModelNotFoundError(
        f"model {ref!r} is not in the local cache ({cache}) and the Hub ({endpoint}) could not "
        f"be asked ({detail}); check the network, or set HF_HUB_OFFLINE=1 to use only the "
        f"cache{also}"
    ) from None
