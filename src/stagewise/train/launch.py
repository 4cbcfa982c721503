"""Run one stage in `accelerate launch` child processes, with a `trl vllm-serve` server for vLLM server mode.

The pipeline keeps its stage chaining: `train_stage` hands a planned stage to `launch_stage`, which writes the
resolved recipe and the plan (settings + its exact rows) to `<stage folder>/launch/`, builds the commands,
starts the vLLM server when the stage asks for one, runs `accelerate launch -m stagewise.train.stage_main ...`
and stops the server again. The children load that plan and call back into `train_stage`, so a launched stage
trains exactly like an in-process one; rank 0 writes the manifest. Everything distributed (DDP, DeepSpeed
ZeRO, FSDP, multi-node rendezvous) is accelerate's and TRL's.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from stagewise.config import MODEL_PRESETS, Recipe, TrainerConfig, _build, to_dict
from stagewise.data.sources import _image_ref
from stagewise.train.manifest import is_done
from stagewise.train.plan import StagePlan
from stagewise.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

LAUNCHED_ENV = "STAGEWISE_LAUNCHED"  # set in the children, so they record which rank ran what
DIGEST_ENV = "STAGEWISE_RANK_DIGEST"  # also record a digest of every rank's weights (DDP; tests)


@dataclass
class LaunchOptions:
    """How `stagewise run` starts each stage (the CLI's --launcher flags)."""

    launcher: str = "local"
    """`local`: train in this process; `accelerate`: `accelerate launch` per stage."""
    accelerate_config: str | None = None
    """An accelerate config file (recipes/accelerate/{ddp,zero2,zero3,fsdp}.yaml); null: accelerate's
    default."""
    num_processes: int | None = None
    """Training processes over all machines; null: from the config file (server mode: GPUs left after the
    server's)."""
    num_machines: int = 1
    """Machines taking part; run the same command on each with its own `machine_rank`."""
    machine_rank: int = 0
    """This machine's rank (0 is the main one)."""
    main_process_ip: str | None = None
    """Address of machine 0 (multi-node)."""
    main_process_port: int | None = None
    """Rendezvous port on machine 0 (multi-node)."""
    cpu: bool = False
    """Force CPU processes (gloo backend): tests and laptops."""
    gpus: int | None = None
    """GPUs on this machine, for the vLLM server split; null: what torch sees."""
    manifest_timeout_s: float = 600.0
    """Machines other than 0: how long to wait for rank 0's manifest after training ends."""


def stage_main_args(launch_dir: Path, start_from: str | Path, out: Path, seed: int) -> list[str]:
    return [
        "-m",
        "stagewise.train.stage_main",
        "--launch-dir",
        str(launch_dir),
        "--start-from",
        str(start_from),
        "--out",
        str(out),
        "--seed",
        str(seed),
    ]


def accelerate_command(
    opts: LaunchOptions, script_args: list[str], num_processes: int | None = None
) -> list[str]:
    """`accelerate launch [flags] -m module ...` for this machine (flags override the config file's)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if opts.accelerate_config:
        if not Path(opts.accelerate_config).exists():
            raise FileNotFoundError(f"accelerate config not found: {opts.accelerate_config}")
        cmd += ["--config_file", str(opts.accelerate_config)]
    n = num_processes or opts.num_processes
    if opts.cpu:
        # accelerate's --cpu starts several processes only through mpirun; torchrun (--multi_gpu) with
        # ACCELERATE_USE_CPU set (plan_stage) gives DDP over gloo instead, with no MPI install.
        cmd += ["--multi_gpu"] if (n or 1) > 1 else ["--cpu"]
        cmd += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    if n:
        cmd += ["--num_processes", str(n)]
    if opts.num_machines > 1:
        if not opts.main_process_ip:
            raise ValueError("multi-node launch needs --main-process-ip (the address of machine 0)")
        cmd += [
            "--num_machines",
            str(opts.num_machines),
            "--machine_rank",
            str(opts.machine_rank),
            "--main_process_ip",
            opts.main_process_ip,
        ]
        if opts.main_process_port:
            cmd += ["--main_process_port", str(opts.main_process_port)]
    if opts.num_machines == 1 and not opts.accelerate_config and n and n > 1 and not opts.cpu:
        cmd += ["--multi_gpu"]
    return cmd + script_args


def vllm_server_command(model: str | Path, trainer: TrainerConfig) -> list[str]:
    """`trl vllm-serve` for a stage's model; TRL's trainer reaches it at `vllm.server_host:server_port`."""
    v = trainer.vllm
    cmd = [
        sys.executable,
        "-m",
        "trl.cli.main",
        "vllm-serve",
        "--model",
        str(model),
        "--port",
        str(v.server_port),
        "--tensor_parallel_size",
        str(v.tensor_parallel_size),
        "--gpu_memory_utilization",
        str(v.gpu_memory_utilization),
    ]
    if v.max_model_length:
        cmd += ["--max_model_len", str(v.max_model_length)]
    return cmd


def visible_gpus(opts: LaunchOptions) -> list[str]:
    """GPU ids on this machine: CUDA_VISIBLE_DEVICES if set, else 0..n-1 (n: --gpus, else what torch sees)."""
    env = [g.strip() for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    ids = env or [str(i) for i in range(opts.gpus if opts.gpus is not None else torch.cuda.device_count())]
    return ids[: opts.gpus] if opts.gpus is not None else ids


def plan_stage(plan: StagePlan, script: list[str], opts: LaunchOptions) -> dict:
    """The commands and environments for one launched stage (nothing is started here)."""
    cmds: dict = {"server": None, "server_env": {}, "train_env": {LAUNCHED_ENV: "1"}}
    if opts.cpu:
        cmds["train_env"]["ACCELERATE_USE_CPU"] = "true"
    v = plan.trainer.vllm
    if plan.method == "grpo" and v.mode == "server" and opts.machine_rank == 0 and opts.num_machines == 1:
        gpus = visible_gpus(opts)
        if len(gpus) <= v.server_gpus:
            raise ValueError(
                f"stage {plan.name}: vllm server mode needs more than {v.server_gpus} GPU(s) "
                f"(the server's), found {len(gpus)}"
            )
        train_gpus, server_gpus = gpus[: -v.server_gpus], gpus[-v.server_gpus :]
        start_from = script[script.index("--start-from") + 1]
        cmds["server"] = vllm_server_command(start_from, plan.trainer)
        cmds["server_env"] = {"CUDA_VISIBLE_DEVICES": ",".join(server_gpus)}
        cmds["train_env"]["CUDA_VISIBLE_DEVICES"] = ",".join(train_gpus)
        cmds["train"] = accelerate_command(opts, script, num_processes=len(train_gpus))
    else:
        cmds["train"] = accelerate_command(opts, script)
    return cmds


def launch_trainer(trainer: TrainerConfig, opts: LaunchOptions) -> TrainerConfig:
    """The settings the children train with: server mode on several machines talks to machine 0."""
    trainer = copy.deepcopy(trainer)
    v = trainer.vllm
    if (
        opts.num_machines > 1
        and opts.main_process_ip
        and v.mode == "server"
        and v.server_host in ("127.0.0.1", "localhost")
    ):
        v.server_host = opts.main_process_ip
    return trainer


def _image_json(ref) -> dict:
    if not isinstance(ref, dict):  # a decoded image (not from stage data): kept as PNG bytes
        ref = _image_ref(ref, "plan", Path("."), None, None)
    if ref.get("bytes") is None:
        return {"path": ref["path"]}
    return {"b64": base64.b64encode(ref["bytes"]).decode()}


def write_plan(plan: StagePlan, folder: Path) -> None:
    """The plan as the children read it: settings as JSON, rows as JSONL whose images are references (a path,
    or the small embedded bytes as base64), never pixels: every rank reads it and decodes only its batches."""
    meta = {
        "name": plan.name,
        "capability": plan.capability,
        "method": plan.method,
        "trainer": dataclasses.asdict(plan.trainer),
        "freeze_vision": plan.freeze_vision,
        "sources": plan.sources,
    }
    lines = "".join(
        json.dumps({**r, "images": [_image_json(i) for i in r.get("images") or []]}) + "\n" for r in plan.rows
    )
    atomic_write_text(folder / "rows.jsonl", lines)
    atomic_write_json(folder / "plan.json", meta)


def read_plan(folder: Path) -> StagePlan:
    meta = json.loads((folder / "plan.json").read_text())
    rows = []
    for line in (folder / "rows.jsonl").read_text().splitlines():
        r = json.loads(line)
        r["images"] = [
            {"path": i["path"], "bytes": None}
            if "path" in i
            else {"path": None, "bytes": base64.b64decode(i["b64"])}
            for i in r["images"]
        ]
        rows.append(r)
    trainer = _build(TrainerConfig, meta.pop("trainer"), "trainer.", str(folder / "plan.json"))
    return StagePlan(rows=rows, trainer=trainer, **meta)


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """Stop a process group we started (the server forks vLLM workers)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def launch_stage(
    recipe: Recipe, plan: StagePlan, start_from: str | Path, out: Path, seed: int, opts: LaunchOptions
) -> None:
    """Train one planned stage through `accelerate launch` (and a vLLM server in server mode); raise if it
    fails."""
    folder = Path(out) / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    if opts.machine_rank == 0 or not (folder / "plan.json").exists():  # one writer on a shared filesystem
        atomic_write_text(folder / "recipe.yaml", yaml.safe_dump(to_dict(recipe), sort_keys=False))
        write_plan(dataclasses.replace(plan, trainer=launch_trainer(plan.trainer, opts)), folder)
    cmds = plan_stage(plan, stage_main_args(folder, start_from, Path(out), seed), opts)
    atomic_write_json(folder / f"commands.machine{opts.machine_rank}.json", cmds)
    server = None
    try:
        if cmds["server"]:
            log.info("stage %s: starting vLLM server: %s", plan.name, shlex.join(cmds["server"]))
            with open(folder / "vllm_server.log", "ab") as server_log:
                server = subprocess.Popen(
                    cmds["server"],
                    env={**os.environ, **cmds["server_env"]},
                    stdout=server_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        log.info("stage %s: %s", plan.name, shlex.join(cmds["train"]))
        rc = subprocess.run(cmds["train"], env={**os.environ, **cmds["train_env"]}).returncode
        if rc != 0:
            raise RuntimeError(
                f"stage {plan.name}: accelerate launch exited with {rc} (command in "
                f"{folder}/commands.machine{opts.machine_rank}.json)"
            )
    finally:
        if server is not None:
            _stop(server)
    if opts.machine_rank > 0:  # rank 0 lives on machine 0 and writes the manifest once it has saved
        deadline = time.time() + opts.manifest_timeout_s
        while not is_done(Path(out)) and time.time() < deadline:
            time.sleep(5)


def wait_for_machine_0(recipe: Recipe, timeout_s: float = 3600.0, poll_s: float = 5.0) -> None:
    """Machines other than 0 reuse machine 0's world data, base model and perception set (shared filesystem)
    rather than building them at the same time into the same folders."""
    run_dir = recipe.run_dir
    needed = [run_dir / "data" / "world.json"]
    if recipe.model.warmstart is not None:
        needed.append(run_dir / "base" / "manifest.json")
    elif recipe.model.source in MODEL_PRESETS:
        needed.append(run_dir / "init" / "manifest.json")
    if recipe.perception_set is not None and any(st.data.perception_set for st in recipe.stages):
        needed.append(run_dir / "data" / "perception_set" / "done.json")
    deadline = time.time() + timeout_s

    def ready(p: Path) -> bool:  # a manifest is written when a step starts; it must say done
        return p.exists() and (p.name != "manifest.json" or json.loads(p.read_text()).get("status") == "done")

    while not all(ready(p) for p in needed):
        if time.time() > deadline:
            missing = ", ".join(str(p) for p in needed if not ready(p))
            raise TimeoutError(
                f"machine 0 has not written {missing} after {timeout_s:.0f} s: is it running, and is "
                f"{run_dir} on a filesystem both machines see?"
            )
        time.sleep(poll_s)


def weights_digest(model) -> dict[str, str]:
    """sha256 of every parameter and buffer as stored (what a checkpoint must reproduce bit for bit)."""
    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8)
        out[name] = hashlib.sha256(t.numpy().tobytes()).hexdigest()
    return out


def record_rank(out_dir: Path, trainer) -> None:
    """Launched children: write `launch/rank<R>.json` (rank, world size, steps; weight digests if asked)."""
    if not os.environ.get(LAUNCHED_ENV):
        return
    acc = trainer.accelerator
    rec = {
        "rank": acc.process_index,
        "local_rank": acc.local_process_index,
        "world_size": acc.num_processes,
        "distributed_type": str(acc.distributed_type),
        "global_step": trainer.state.global_step,
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    if os.environ.get(DIGEST_ENV):
        rec["digest"] = weights_digest(acc.unwrap_model(trainer.model))
    atomic_write_json(Path(out_dir) / "launch" / f"rank{acc.process_index}.json", rec)


def read_rank_records(out_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((Path(out_dir) / "launch").glob("rank*.json"))]
