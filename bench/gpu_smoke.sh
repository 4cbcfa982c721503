#!/bin/bash
# GPU smoke test (not part of CI): one small staged recipe (perception -> textual -> visual on the procedural
# world) with vLLM rollouts colocated in the training processes, then tokens/s and step time per stage.
#
#   bash bench/gpu_smoke.sh                        # 1 GPU, in-process
#   NGPU=4 bash bench/gpu_smoke.sh                 # 4 GPUs through accelerate (DDP config)
#   MODEL=Qwen/Qwen2.5-VL-3B-Instruct STEPS=20 bash bench/gpu_smoke.sh
#
# Needs a CUDA machine with `pip install vllm` beside stagewise, and the model in the HF cache (or network).
# The default model is a small real VLM: vLLM loads models through AutoProcessor, which the locally built `tiny`
# preset does not register (see ../shared/NOTES.md), so MODEL=tiny exercises the path but may fail in vLLM.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="${MODEL:-Qwen/Qwen2-VL-2B-Instruct}"
STEPS="${STEPS:-10}"
NGPU="${NGPU:-1}"
OUT="${OUT:-runs/gpu-smoke}"
MEM="${MEM:-0.3}"            # vLLM's share of each GPU (colocate)
PY="${PYTHON:-python}"

command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this needs a CUDA machine" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" -c "import vllm, trl, torch; print('vllm', vllm.__version__, 'trl', trl.__version__, 'torch', torch.__version__)"

overrides=(name=gpu-smoke "output_dir=$OUT" threads=0 "model.source=$MODEL" model.warmstart=null
           world.train_size=400 world.test_size=50 eval.size=50 eval.batch_size=50 eval.max_new_tokens=256)
for st in perception textual visual; do
  overrides+=("stages.$st.data.size=400" "stages.$st.data.instruction=think_boxed"
              "stages.$st.trainer.steps=$STEPS" "stages.$st.trainer.learning_rate=1.0e-6"
              "stages.$st.trainer.prompts_per_step=8" "stages.$st.trainer.group_size=5"
              "stages.$st.trainer.max_completion_length=256" "stages.$st.trainer.logging_steps=1"
              "stages.$st.trainer.bf16=true" "stages.$st.trainer.gradient_checkpointing=true"
              "stages.$st.trainer.vllm.mode=colocate" "stages.$st.trainer.vllm.gpu_memory_utilization=$MEM"
              "stages.$st.trainer.vllm.max_model_length=2048")
done

launch=()
if [ "$NGPU" -gt 1 ]; then
  launch=(--launcher accelerate --accelerate-config recipes/accelerate/ddp.yaml --num-processes "$NGPU")
fi

rm -rf "$OUT/gpu-smoke"
t0=$(date +%s)
"$PY" -m stagewise.cli run recipes/tiny/staged.yaml "${overrides[@]}" "${launch[@]}"
echo "wall: $(( $(date +%s) - t0 )) s"

"$PY" - "$OUT/gpu-smoke/staged/seed0" <<'PY'
import json, sys
from pathlib import Path

run = Path(sys.argv[1])
print("| stage | steps | mean step s | completion tokens/step | tokens/s |")
print("|---|---|---|---|---|")
for stage in ("perception", "textual", "visual"):
    log = [json.loads(l) for l in (run / stage / "trainer_log.jsonl").read_text().splitlines()]
    steps = [h for h in log if "step_time" in h]
    manifest = json.loads((run / stage / "manifest.json").read_text())
    per_step = manifest["compute"]["completions_generated"] / max(1, manifest["plan"]["trainer"]["steps"])
    step_s = sum(h["step_time"] for h in steps) / len(steps)
    tokens = sum(h["completions/mean_length"] for h in steps) / len(steps) * per_step
    print(f"| {stage} | {len(steps)} | {step_s:.2f} | {tokens:.0f} | {tokens / step_s:.0f} |")
PY
