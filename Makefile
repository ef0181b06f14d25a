# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test setup browser index lint bench clean-index cuda-torch

run: setup  ## install everything into .venv, build the seeds index if missing, serve the chat at :8000
	$(BIN)/qa serve

test: setup browser  ## the whole test suite (what .ci/run calls)
	$(BIN)/ruff check qa tests benchmarks
	$(BIN)/python -m pytest

setup: $(VENV)/.installed

# torch is installed first and pinned, so pip takes the CPU wheel on disk, never the CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,milvus,ray]'
	@if [ ! -e $(VENV)/.cuda ] && $(BIN)/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then echo 'error: a CUDA (nvidia-*) package got installed' >&2; exit 1; fi
	touch $@

# Optional, on a GPU host only: swap the CPU torch for the same version built for CUDA (QA_DEVICE=auto
# then embeds and reads on the GPU). CUDA_WHEELS picks the CUDA build (see pytorch.org for the list).
CUDA_WHEELS ?= cu128
cuda-torch: setup  ## replace the CPU torch with torch 2.13.0 built for CUDA ($(CUDA_WHEELS))
	$(BIN)/python -m pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/$(CUDA_WHEELS)
	touch $(VENV)/.cuda
	$(BIN)/python -c "import torch; print('CUDA available:', torch.cuda.is_available())"

browser:  ## Debian's chromium and a CJK font for the browser tests
	@scripts/install-browser.sh

index: setup
	$(BIN)/qa index

lint: setup
	$(BIN)/ruff check qa tests benchmarks
	$(BIN)/ruff format --check qa tests benchmarks

bench: setup
	$(BIN)/python benchmarks/run_all.py
