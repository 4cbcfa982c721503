#!/usr/bin/env bash
# The demo step by step: what `stagewise run recipes/tiny/staged.yaml` does, one command per step. Each step
# reads only the folders the steps before it left in runs/tiny-staged/, so any line can be rerun alone: a
# finished folder is skipped, `--redo STEP` redoes it and everything made from it.
#   bash recipes/tiny/staged.sh                                    # the demo (about as long as `make demo`)
#   bash recipes/tiny/staged.sh stages.perception.trainer.steps=5  # dotted overrides go to every step
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -x .venv/bin/stagewise ]; then export PATH="$PWD/.venv/bin:$PATH"; fi
R=recipes/tiny/staged.yaml

# 1. The procedural world: train, test and warm-start splits of three families (data/)
stagewise step world $R "$@"

# 2. The base: the pretrained tiny VLM after a warm start written up by a mis-seeing annotator (base/)
stagewise step base $R "$@"

# 3. The paper's perception data: questions from the captions, kept where the base fails from the image
#    but not from the caption (data/perception_set/)
stagewise step perception-set $R "$@"

# 4. The capability-staged arm: perception -> textual -> visual, each GRPO stage from the one before (staged/)
stagewise step stage $R "$@" --variant staged --stage perception
stagewise step stage $R "$@" --variant staged --stage textual
stagewise step stage $R "$@" --variant staged --stage visual

# 5. The paper's baseline: the three stages' data pooled into one GRPO run of the same length (merged/)
stagewise step stage $R "$@" --variant merged --stage merged

# 6. The base and every trained model on the held-out world test splits (eval/, <arm>/seed0/eval/)
stagewise step eval $R "$@"

# 7. The tables: results.md|json, paired.json, grid.md|json (what `stagewise run` prints at its end)
stagewise step results $R "$@"

# 8. The HTML + Markdown report of the run (report/)
stagewise report runs/tiny-staged
