"""`stagewise push STAGE_FOLDER --repo ID` and `stagewise card FOLDER`: publish a trained folder with its
card.

The upload is huggingface_hub's (`HfApi.create_repo` + `upload_folder`). The token is huggingface_hub's own
(`HF_TOKEN`, or `hf auth login`), or read from the variable `--token-env` names; it is handed to `HfApi` and
nowhere else: never logged, never in an error message (a failing call's message is redacted), never written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from stagewise.export.card import write_card

log = logging.getLogger(__name__)

IGNORE = ["checkpoints/**", "launch/**", "training_args.bin", ".lock*", "*.tmp"]
"""Not published: resume checkpoints, launcher scratch, and TrainingArguments' pickle (loading a pickle runs
code, and it is of no use to anyone loading the model)."""


class PublishError(RuntimeError):
    """The Hub refused or could not be reached; the message never holds the token."""


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    token: str | None = None,
    base_model: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Write the folder's card (with `repo_id` in its quick start) and upload the folder to the Hub model repo
    `repo_id` (created if absent; `revision`: a branch, created if absent). Returns the commit URL."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    manifest = folder / "manifest.json"
    if not manifest.exists() or json.loads(manifest.read_text()).get("status") != "done":
        raise ValueError(
            f"{folder}: not a finished stage folder (no manifest.json with status done); only "
            "trained folders are published"
        )
    card = write_card(folder, base_model=base_model, repo_id=repo_id)
    log.info("model card: %s", card)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.publish-") as tmp:
        staged = _public_copy(folder, Path(tmp))
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if revision:
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=str(staged),
                repo_type="model",
                revision=revision,
                commit_message=commit_message or f"stagewise: {folder.name}",
                ignore_patterns=IGNORE,
            )
        except Exception as e:  # noqa: BLE001 — every hub failure leaves here as one error without the token
            raise PublishError(
                _redact(f"push of {folder} to {repo_id} failed: {type(e).__name__}: {e}", token)
            ) from None
    url = str(getattr(info, "commit_url", None) or info)
    log.info("pushed %s to %s", folder, url)
    return url


def _public_copy(folder: Path, tmp: Path) -> Path:
    """The folder as published: its files hard-linked (copied across filesystems) into `tmp`, except that
    `manifest.json` names local folders outside the run by their last part only, as the card does (a manifest
    records where a run started from, e.g. `/home/<user>/models/x`, which is nobody's business on the Hub)."""
    out = tmp / folder.name
    for src in folder.rglob("*"):
        if not src.is_file() or src.name == "manifest.json" and src.parent == folder:
            continue
        dst = out / src.relative_to(folder)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    manifest = json.loads((folder / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(_without_local_paths(manifest), indent=2))
    return out


def _without_local_paths(value):
    if isinstance(value, dict):
        return {k: _without_local_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_local_paths(v) for v in value]
    if isinstance(value, str) and value.startswith(("/", "~")) and "\n" not in value:
        return f"<local>/{Path(value).name}"
    return value


def cmd_card(args) -> int:
    path = write_card(args.folder, base_model=args.base_model, repo_id=args.repo)
    sys.stdout.write(f"{path}\n")
    return 0


def cmd_push(args) -> int:
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise ValueError(f"--token-env {args.token_env}: that environment variable is not set")
    try:
        url = push_folder(
            args.folder,
            args.repo,
            private=args.private,
            revision=args.revision,
            token=token,
            base_model=args.base_model,
            commit_message=args.message,
        )
    except PublishError as e:
        log.error("%s", e)
        return 1
    sys.stdout.write(f"{url}\n")
    return 0


def add_publish_commands(sub) -> None:
    c = sub.add_parser("card", help="write the Hugging Face model card (README.md) of a trained folder")
    c.add_argument(
        "folder", help="a trained folder: runs/<name>/<variant>/seed<k>/<stage> or runs/<name>/base"
    )
    c.add_argument(
        "--base-model", default=None, help="Hub id the run started from (when it used a local copy)"
    )
    c.add_argument("--repo", default=None, help="Hub id it will be published as (shown in the quick start)")
    c.set_defaults(func=cmd_card)

    p = sub.add_parser("push", help="publish a trained folder and its model card to the Hugging Face Hub")
    p.add_argument(
        "folder", help="a trained folder: runs/<name>/<variant>/seed<k>/<stage> or runs/<name>/base"
    )
    p.add_argument("--repo", required=True, help="model repository id, e.g. my-org/qwen2.5-vl-7b-staged")
    p.add_argument("--private", action="store_true", default=None, help="create the repository private")
    p.add_argument("--revision", default=None, help="branch to push to (created if absent)")
    p.add_argument(
        "--base-model", default=None, help="Hub id the run started from (when it used a local copy)"
    )
    p.add_argument("--message", default=None, help="commit message")
    p.add_argument(
        "--token-env",
        default=None,
        help="environment variable holding the Hub token (default: "
        "huggingface_hub's own: HF_TOKEN or `hf auth login`)",
    )
    p.set_defaults(func=cmd_push)
