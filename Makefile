# emotune: `make demo` runs the whole pipeline on the embedded synthetic data; `make test` runs the tests.
# Both install into .venv first when it is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --isolated --cert /etc/ssl/certs/ca-certificates.crt --disable-pip-version-check
DATA := data/synthetic
DEMO := outputs/demo
DEMO_EPOCHS ?= 12
VIDEO ?= $(DATA)/videos/default.mp4
export EMOTUNE_ROOT := $(CURDIR)
export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help install data video data-findingemo demo demo-models train-% infer eval bench test test-full lint format clean clean-outputs

help: ## Show this help
	@grep -E '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The registry's torch + torchvision (not the machine's local CPU torch wheel, which breaks torchvision ops);
# facexlib and facenet-pytorch without their dependencies (they pin opencv-python 5.x, which has no Haar
# cascades, and an old torch); both run on this stack (tests/test_environment.py checks it).
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(PIP) -q --upgrade pip
	$(PIP) -q -e ".[dev]"
	$(PIP) -q --no-deps facexlib==0.3.0 facenet-pytorch==2.6.0
	$(BIN)/python -c "import torch, torchvision.ops, timm, open_clip, cv2, av, facenet_pytorch; cv2.data.haarcascades; print('stack ok: torch', torch.__version__, 'cv2', cv2.__version__, 'av', av.__version__)"
	touch $@

install: $(VENV)/.installed ## Create .venv and install everything (about 2-3 minutes, ~6 GB)

data: $(VENV)/.installed ## Build the synthetic FindingEmo-format images, DEAM-format catalogue and default clip
	$(BIN)/python -m emotune.runtime.data_cli synthetic --root $(DATA)

video: $(VENV)/.installed ## Render a clip: make video TRAJ=keyframes.csv OUT=clip.mp4
	@test -n "$(TRAJ)" -a -n "$(OUT)" || { echo "error: give TRAJ=keyframes.csv (t_s,valence,arousal) and OUT=clip.mp4" >&2; exit 2; }
	$(BIN)/python -m emotune.runtime.data_cli video --traj "$(TRAJ)" --out "$(OUT)"

data-findingemo: $(VENV)/.installed ## Download real FindingEmo images: make data-findingemo DATA_DIR=data/findingemo
	$(BIN)/python -m emotune.runtime.data_cli findingemo --data-dir "$(or $(DATA_DIR),data/findingemo)"
	$(BIN)/python -m emotune.runtime.data_cli validate --root "$(or $(DATA_DIR),data/findingemo)"

$(DEMO)/scene/checkpoints/best.ckpt: | data
	$(BIN)/python train.py phase=scene hydra.run.dir=$(DEMO)/scene trainer.max_epochs=$(DEMO_EPOCHS) extras.print_config=false
$(DEMO)/face/checkpoints/best.ckpt: | data
	$(BIN)/python train.py phase=face hydra.run.dir=$(DEMO)/face trainer.max_epochs=$(DEMO_EPOCHS) extras.print_config=false
$(DEMO)/fusion/checkpoints/best.ckpt: $(DEMO)/scene/checkpoints/best.ckpt $(DEMO)/face/checkpoints/best.ckpt
	$(BIN)/python train.py phase=fusion hydra.run.dir=$(DEMO)/fusion extras.print_config=false \
	  model.scene_ckpt=$(DEMO)/scene/checkpoints/best.ckpt model.face_ckpt=$(DEMO)/face/checkpoints/best.ckpt

demo: $(VENV)/.installed ## Install, build data, train scene/face/fusion, run infer.py on the default clip (REBUILD=1 to redo)
	@if [ -n "$(REBUILD)" ]; then rm -rf $(DEMO); fi
	$(MAKE) --no-print-directory data
	$(MAKE) --no-print-directory $(DEMO)/fusion/checkpoints/best.ckpt
	$(BIN)/python infer.py video=$(VIDEO) ckpt.dir=$(DEMO) hydra.run.dir=$(DEMO)/infer extras.print_config=false
	@echo; echo "Demo outputs: $(DEMO)/{scene,face,fusion}/metrics.json, $(DEMO)/infer/{timeline.csv,playlist.m3u,summary.json,timeline.png}"

demo-models: $(VENV)/.installed ## Build data and train the demo checkpoints if missing (no inference)
	$(MAKE) --no-print-directory data
	$(MAKE) --no-print-directory $(DEMO)/fusion/checkpoints/best.ckpt

eval: demo-models ## Stabilizers, validate vs guide, phase table on scripted clips -> outputs/eval/report.md (~8 min)
	$(BIN)/python -m emotune.eval.report --demo $(DEMO) --out outputs/eval

bench: demo-models ## Realtime factor, stages, MC Dropout, matcher, feature cache, memory -> outputs/bench/bench.md
	$(BIN)/python -m emotune.bench.run --demo $(DEMO) --video $(VIDEO) --out outputs/bench

train-%: $(VENV)/.installed ## Train one phase: make train-scene | train-face | train-fusion ARGS="..."
	$(BIN)/python train.py phase=$* $(ARGS)

infer: $(VENV)/.installed ## Run inference: make infer VIDEO=clip.mp4 [ARGS="ckpt.dir=outputs/demo"]
	$(BIN)/python infer.py video=$(VIDEO) ckpt.dir=$(DEMO) $(ARGS)

test: $(VENV)/.installed ## Fast tests (not slow, not gpu)
	$(BIN)/python -m pytest -m "not slow and not gpu" -q

test-full: $(VENV)/.installed ## All tests, including slow ones (multiruns, DDP, full trainings)
	$(BIN)/python -m pytest -q

LINT_PATHS := src tests train.py infer.py

lint: $(VENV)/.installed ## ruff check + ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(VENV)/.installed ## ruff check --fix, then ruff format
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

clean-outputs: ## Remove outputs/ (runs, demo)
	rm -rf outputs/*

clean: ## Remove the venv, generated data and outputs
	rm -rf $(VENV) data/synthetic data/cache outputs/*
