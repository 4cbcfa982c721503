# `make demo` and `make test` do all set-up themselves on a fresh machine (CPU only, no downloads of models/data).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel of torch must go in first: a looser spec pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test test-fast lint bench clean install pretrain check-extras

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stagewise run recipes/tiny/staged.yaml
	$(BIN)/stagewise report runs/tiny-staged

# Rebuilds the demo's starting model, assets/tiny-pretrained (checked in): the tiny preset after SFT on a world
# of its own, about an hour on 2 cores. Deterministic for a seed and thread count.
pretrain: $(STAMP)
	$(BIN)/stagewise model --preset tiny --out assets/tiny-pretrained.new --pretrain-steps 8000
	rm -rf assets/tiny-pretrained && mv assets/tiny-pretrained.new assets/tiny-pretrained

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# The [gpu] extra (vLLM, DeepSpeed) resolves with the core ranges: pip --dry-run, nothing installed.
check-extras: $(STAMP)
	.ci/check-extras

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/speed.py

clean:
	rm -rf runs .pytest_cache
