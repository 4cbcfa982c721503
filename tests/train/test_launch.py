"""Launcher commands and rollout switches, checked with accelerate's and TRL's own parsers."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from trl.scripts.vllm_serve import build_command, make_parser

from stagewise.cli import build_parser
from stagewise.config import LoRAConfig, TrainerConfig, VLLMConfig
from stagewise.train.grpo import grpo_config, peft_config, per_device_batch
from stagewise.train.launch import (
    LaunchOptions,
    _stop,
    accelerate_command,
    launch_trainer,
    plan_stage,
    read_plan,
    stage_main_args,
    write_plan,
)
from stagewise.train.plan import StagePlan

ACCEL = Path(__file__).resolve().parents[2] / "recipes" / "accelerate"
SCRIPT = stage_main_args(
    Path("runs/x/staged/seed0/perception/launch"), "runs/x/base", Path("runs/x/staged/seed0/perception"), 0
)


def plan_of(trainer: TrainerConfig, rows=None) -> StagePlan:
    return StagePlan("perception", "perception", "grpo", rows or [], trainer, False, ["perception"])


def parse_accelerate(cmd):
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    return launch_command_parser().parse_args(cmd[3:])


@pytest.mark.parametrize(
    "name, kind", [("ddp", "MULTI_GPU"), ("zero2", "DEEPSPEED"), ("zero3", "DEEPSPEED"), ("fsdp", "FSDP")]
)
def test_shipped_accelerate_configs_load(name, kind):
    cfg = load_config_from_file(str(ACCEL / f"{name}.yaml"))
    assert cfg.distributed_type.value == kind
    assert cfg.mixed_precision == "bf16"
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] == int(name[-1])


@pytest.mark.parametrize(
    "name, flag", [("ddp", "multi_gpu"), ("zero3", "use_deepspeed"), ("fsdp", "use_fsdp")]
)
def test_accelerate_command_resolves_to_the_right_launcher(name, flag):
    opts = LaunchOptions(
        launcher="accelerate", accelerate_config=str(ACCEL / f"{name}.yaml"), num_processes=4
    )
    args = parse_accelerate(accelerate_command(opts, SCRIPT))
    assert args.module and args.training_script == "stagewise.train.stage_main"
    script = args.training_script_args
    assert script[script.index("--launch-dir") + 1] == "runs/x/staged/seed0/perception/launch"
    assert script[script.index("--seed") + 1] == "0"
    args, _, _ = _validate_launch_command(args)  # merges the config file the way `accelerate launch` does
    assert getattr(args, flag)
    assert args.num_processes == 4  # the flag overrides the file's 8


def test_multi_node_flags():
    opts = LaunchOptions(
        launcher="accelerate",
        accelerate_config=str(ACCEL / "zero3.yaml"),
        num_processes=16,
        num_machines=2,
        machine_rank=1,
        main_process_ip="10.0.0.1",
        main_process_port=29500,
    )
    args = parse_accelerate(accelerate_command(opts, SCRIPT))
    assert (args.num_machines, args.machine_rank, args.main_process_ip, args.main_process_port) == (
        2,
        1,
        "10.0.0.1",
        29500,
    )
    with pytest.raises(ValueError, match="main-process-ip"):
        accelerate_command(LaunchOptions(num_machines=2), SCRIPT)


def test_cpu_launch_uses_torchrun_with_cpu_processes():
    args = parse_accelerate(accelerate_command(LaunchOptions(cpu=True, num_processes=2), SCRIPT))
    assert args.multi_gpu and not args.cpu and args.num_processes == 2
    cmds = plan_stage(plan_of(TrainerConfig()), SCRIPT, LaunchOptions(cpu=True, num_processes=2))
    assert cmds["train_env"]["ACCELERATE_USE_CPU"] == "true"


def test_missing_accelerate_config_is_named():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        accelerate_command(LaunchOptions(accelerate_config="nope.yaml"), SCRIPT)


def test_off_mode_generates_with_transformers(tmp_path):
    args = grpo_config(TrainerConfig(), tmp_path, 0)
    assert args.use_vllm is False


def test_colocate_mode_matches_trl(tmp_path):
    t = TrainerConfig(
        vllm=VLLMConfig(
            mode="colocate",
            gpu_memory_utilization=0.4,
            tensor_parallel_size=2,
            enable_sleep_mode=True,
            max_model_length=4096,
        )
    )
    args = grpo_config(t, tmp_path, 0)
    assert (
        args.use_vllm,
        args.vllm_mode,
        args.vllm_gpu_memory_utilization,
        args.vllm_tensor_parallel_size,
        args.vllm_enable_sleep_mode,
        args.vllm_max_model_length,
    ) == (True, "colocate", 0.4, 2, True, 4096)
    cmds = plan_stage(plan_of(t), SCRIPT, LaunchOptions(gpus=8))
    assert cmds["server"] is None  # vLLM lives inside the training processes


def test_server_mode_server_and_trainer_agree(tmp_path):
    v = VLLMConfig(
        mode="server",
        server_port=8123,
        server_gpus=2,
        gpu_memory_utilization=0.85,
        tensor_parallel_size=2,
        max_model_length=6144,
    )
    t = TrainerConfig(prompts_per_step=6, vllm=v)  # 30 completions over 6 training GPUs
    plan = plan_stage(
        plan_of(t),
        SCRIPT,
        LaunchOptions(launcher="accelerate", accelerate_config=str(ACCEL / "zero3.yaml"), gpus=8),
    )
    server = plan["server"]
    assert server[:4] == [sys.executable, "-m", "trl.cli.main", "vllm-serve"]
    (served,) = make_parser().parse_args_and_config(server[4:])  # TRL's own `trl vllm-serve` parser
    assert (
        served.model,
        served.port,
        served.tensor_parallel_size,
        served.gpu_memory_utilization,
        served.max_model_len,
    ) == ("runs/x/base", 8123, 2, 0.85, 6144)
    vllm_cmd = build_command(served)  # the `vllm serve` line TRL builds from it
    assert vllm_cmd[vllm_cmd.index("--port") + 1] == "8123"
    assert plan["server_env"]["CUDA_VISIBLE_DEVICES"] == "6,7"
    assert plan["train_env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5"
    assert parse_accelerate(plan["train"]).num_processes == 6
    args = grpo_config(t, tmp_path, 0, world_size=6)
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_port, args.vllm_server_host) == (
        True,
        "server",
        served.port,
        "127.0.0.1",
    )


def test_server_mode_needs_a_gpu_left_for_training():
    t = TrainerConfig(vllm=VLLMConfig(mode="server", server_gpus=1))
    with pytest.raises(ValueError, match="more than 1 GPU"):
        plan_stage(plan_of(t), SCRIPT, LaunchOptions(gpus=1))


def test_multi_node_server_mode_points_trainers_at_machine_0():
    t = TrainerConfig(vllm=VLLMConfig(mode="server"))
    moved = launch_trainer(t, LaunchOptions(num_machines=2, main_process_ip="10.0.0.1"))
    assert moved.vllm.server_host == "10.0.0.1"
    assert t.vllm.server_host == "127.0.0.1"  # the caller's settings are untouched


def test_plan_round_trips_through_the_launch_folder(world_dir, tmp_path):
    from PIL import Image

    from stagewise.data.sources import decode_image, load_rows, to_trl_rows

    rows = to_trl_rows(
        load_rows(world_dir / "perception" / "train", limit=3, decode=False), source="perception"
    )
    big = tmp_path / "big.png"  # a file-backed image travels as its path, not its pixels
    Image.effect_noise((600, 600), 50).convert("RGB").save(big)
    rows[1]["images"] = [{"path": str(big), "bytes": None}]
    t = TrainerConfig(
        steps=7,
        vllm=VLLMConfig(mode="colocate", max_model_length=512),
        lora=LoRAConfig(r=8),
        extra={"delta": 3.0},
    )
    write_plan(plan_of(t, rows), tmp_path)
    back = read_plan(tmp_path)
    assert back.trainer == t and (back.name, back.method, back.sources) == (
        "perception",
        "grpo",
        ["perception"],
    )
    assert [r["id"] for r in back.rows] == [r["id"] for r in rows]
    assert back.rows[0]["prompt"] == rows[0]["prompt"] and back.rows[0]["answer"] == rows[0]["answer"]
    assert decode_image(back.rows[0]["images"][0]).tobytes() == decode_image(rows[0]["images"][0]).tobytes()
    assert back.rows[1]["images"] == [{"path": str(big), "bytes": None}]
    assert (tmp_path / "rows.jsonl").stat().st_size < big.stat().st_size


def test_paper_batch_geometry(tmp_path):
    # 512 prompts per rollout, 128 per update, group 5, 8 GPUs x 16 accumulation steps
    t = TrainerConfig(
        prompts_per_step=128, prompts_per_rollout=512, group_size=5, gradient_accumulation_steps=16
    )
    args = grpo_config(t, tmp_path, 0, world_size=8)
    assert args.per_device_train_batch_size == 5
    assert args.generation_batch_size == 2560
    per_update = args.per_device_train_batch_size * 8 * args.gradient_accumulation_steps
    assert per_update == 128 * 5 and args.generation_batch_size // per_update == 4
    with pytest.raises(ValueError, match="cannot be split evenly"):
        per_device_batch(TrainerConfig(prompts_per_step=3, group_size=5), 2)


def test_bf16_and_checkpointing_switches(tmp_path):
    args = grpo_config(TrainerConfig(bf16=False, gradient_checkpointing=True, max_grad_norm=0.5), tmp_path, 0)
    assert (args.bf16, args.gradient_checkpointing, args.max_grad_norm) == (False, True, 0.5)


def test_lora_leaves_the_vision_tower_alone_unless_asked(tiny_model_dir):
    import torch
    from peft import get_peft_model

    from stagewise.models.load import load_model

    def adapted(lora):
        model = load_model(tiny_model_dir, dtype=torch.float32)
        model = get_peft_model(model, peft_config(TrainerConfig(lora=lora), model))
        return {n for n, _ in model.named_parameters() if "lora_A" in n}

    text_only = adapted(LoRAConfig(r=4))
    assert text_only and not any(".visual." in n for n in text_only)
    assert any(".visual." in n for n in adapted(LoRAConfig(r=4, vision=True)))
    assert peft_config(TrainerConfig()) is None


def test_stop_ends_the_server_process_group():
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    _stop(proc, grace_s=5)
    assert proc.returncode == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_run_accepts_launcher_flags():
    args = build_parser().parse_args(
        [
            "run",
            "r.yaml",
            "--launcher",
            "accelerate",
            "--accelerate-config",
            "recipes/accelerate/zero3.yaml",
            "--num-machines",
            "2",
            "--machine-rank",
            "1",
            "--main-process-ip",
            "10.0.0.1",
            "--main-process-port",
            "29500",
        ]
    )
    assert (args.launcher, args.num_machines, args.machine_rank, args.main_process_ip) == (
        "accelerate",
        2,
        1,
        "10.0.0.1",
    )


def test_lora_is_refused_under_sharded_weights(monkeypatch, tmp_path):
    from stagewise.train.grpo import run_grpo

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ValueError, match="ZeRO-3 or FSDP"):
        run_grpo(None, None, None, tmp_path, TrainerConfig(lora=LoRAConfig(r=4)))


def test_lora_stage_saves_a_plain_merged_model(tiny_model_dir, world_dir, tmp_path):
    import torch

    from stagewise.data.sources import load_rows, to_dataset, to_trl_rows
    from stagewise.models.load import load_model_and_processor
    from stagewise.train.grpo import run_grpo

    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    names = {n for n, _ in model.named_parameters()}
    rows = to_trl_rows(load_rows(world_dir / "perception" / "train", limit=4), instruction=None)
    cfg = TrainerConfig(
        steps=1,
        prompts_per_step=2,
        group_size=2,
        max_completion_length=8,
        logging_steps=1,
        lora=LoRAConfig(r=4),
    )
    run_grpo(model, processor, to_dataset(rows), tmp_path / "out", cfg)
    assert not (tmp_path / "out" / "adapter_config.json").exists()
    reloaded, _ = load_model_and_processor(tmp_path / "out", dtype=torch.float32)
    assert {n for n, _ in reloaded.named_parameters()} == names  # no lora_A/lora_B left: merged


def test_cli_hands_the_launch_options_to_the_pipeline(monkeypatch, tmp_path):
    from stagewise import cli
    from stagewise.train import pipeline

    seen = {}

    def fake_run(recipe, seeds, launch=None, **rerun):
        seen["launch"] = launch
        return {"models": {}, "grid": {}}

    monkeypatch.setattr(pipeline, "run", fake_run)
    monkeypatch.setattr("stagewise.train.summary.grid_table", lambda grid: (["variant"], []))
    cli.main(
        [
            "run",
            str(ACCEL.parent / "tiny" / "staged.yaml"),
            "--launcher",
            "accelerate",
            "--cpu",
            "--num-processes",
            "2",
            "--accelerate-config",
            str(ACCEL / "ddp.yaml"),
        ]
    )
    opts = seen["launch"]
    assert (opts.launcher, opts.cpu, opts.num_processes, opts.accelerate_config) == (
        "accelerate",
        True,
        2,
        str(ACCEL / "ddp.yaml"),
    )


def test_other_machines_wait_for_machine_0s_data_and_base(tmp_path):
    import threading

    from stagewise.config import Recipe, WarmstartConfig
    from stagewise.train.launch import wait_for_machine_0

    recipe = Recipe(name="mn", output_dir=str(tmp_path))
    recipe.model.warmstart = WarmstartConfig()
    with pytest.raises(TimeoutError, match="world.json"):
        wait_for_machine_0(recipe, timeout_s=0.2, poll_s=0.05)

    base = tmp_path / "mn" / "base" / "manifest.json"
    base.parent.mkdir(parents=True)
    base.write_text('{"status": "started"}')  # written when the warm start begins: not yet the base
    with pytest.raises(TimeoutError, match="base"):
        wait_for_machine_0(recipe, timeout_s=0.2, poll_s=0.05)

    def machine_0():
        for f in (tmp_path / "mn" / "data" / "world.json", base):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text('{"status": "done"}')

    threading.Timer(0.2, machine_0).start()
    wait_for_machine_0(recipe, timeout_s=10, poll_s=0.05)  # returns once both exist


def test_other_machines_also_wait_for_the_perception_set(tmp_path):
    from stagewise.config import load_recipe
    from stagewise.train.launch import wait_for_machine_0

    recipe = load_recipe(ACCEL.parent / "tiny" / "staged.yaml", [f"output_dir={tmp_path}"])
    run_dir = recipe.run_dir
    for f in (run_dir / "data" / "world.json", run_dir / "base" / "manifest.json"):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text('{"status": "done"}')
    with pytest.raises(TimeoutError, match="perception_set"):
        wait_for_machine_0(recipe, timeout_s=0.2, poll_s=0.05)
    (run_dir / "data" / "perception_set").mkdir()
    (run_dir / "data" / "perception_set" / "done.json").write_text("{}")
    wait_for_machine_0(recipe, timeout_s=1, poll_s=0.05)


def test_only_machine_0_evaluates(tmp_path, monkeypatch):
    from stagewise.config import load_recipe
    from stagewise.train import pipeline
    from stagewise.train.launch import LaunchOptions

    recipe = load_recipe(
        ACCEL.parent / "tiny" / "staged.yaml", [f"output_dir={tmp_path}", "variants={staged: {}}"]
    )
    trained, evaluated = [], []
    monkeypatch.setattr(pipeline, "build_data", lambda r, planned: tmp_path / "data")
    monkeypatch.setattr(pipeline, "build_base", lambda r, d, planned: tmp_path / "base")
    monkeypatch.setattr(pipeline, "build_perception_set", lambda r, d, b, planned: None)
    monkeypatch.setattr(
        pipeline, "check_variants", lambda r, d, base=None: None
    )  # there is no data to plan from
    monkeypatch.setattr(
        pipeline,
        "run_variant",
        lambda r, v, s, b, d, launch=None, planned=None: trained.append(v) or [("visual", tmp_path / v)],
    )
    monkeypatch.setattr(
        pipeline, "evaluate_models", lambda r, models, d, planned: evaluated.append(models) or {}
    )
    out = pipeline.run(recipe, launch=LaunchOptions(launcher="accelerate", num_machines=2, machine_rank=1))
    assert trained == ["staged"] and evaluated == []
    assert out == {"models": {}, "grid": None, "paired": {}}
    assert not (recipe.run_dir / "results.md").exists()


def test_other_machines_read_machine_0s_pass_rates(tmp_path, monkeypatch):
    import threading

    from stagewise.config import Recipe
    from stagewise.data.difficulty import cache_settings
    from stagewise.train.pass_rates import pass_rate_fn
    from stagewise.utils import append_jsonl

    recipe = Recipe(name="mn", output_dir=str(tmp_path))
    monkeypatch.setattr(
        "stagewise.models.load.load_model_and_processor",
        lambda *a, **k: pytest.fail("machine 1 must not sample pass rates itself"),
    )
    rows = [{"id": "a"}, {"id": "b", "pass_rate": 0.5}]
    rates = pass_rate_fn(recipe, "base-model", machine_rank=1, wait_s=0.3, poll_s=0.05)
    with pytest.raises(TimeoutError, match="1 items"):
        rates(rows)
    d = recipe.difficulty
    settings = cache_settings("base-model", d.k, d.temperature, d.top_p, d.max_new_tokens)
    cache = recipe.run_dir / "difficulty" / "pass_rates.jsonl"
    cache.parent.mkdir(parents=True)
    threading.Timer(0.1, lambda: append_jsonl(cache, [{"id": "a", "pass_rate": 0.25, **settings}])).start()
    rates = pass_rate_fn(recipe, "base-model", machine_rank=1, wait_s=10, poll_s=0.05)
    assert rates(rows) == {"a": 0.25, "b": 0.5}
