# Two entry points: `make demo` and `make test`. Both create or reuse .venv and install what they need.
# Override TORCH for a GPU build, e.g.
#   make demo TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# mmcv is built once per torch build (CPU or CUDA) and kept outside the checkout, so fresh clones and
# re-runs reuse it instead of spending ~15 minutes compiling its ops again.
MMCV_VERSION := 2.1.0
MMCV_WHEELHOUSE ?= $(HOME)/.cache/tbmm/wheels
MAX_JOBS ?= 2

PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo test lint clean-venv

setup: $(VENV)/.tbmm-installed

$(VENV)/.torch-installed:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip 'setuptools<82' wheel ninja
	$(PIP) install -q $(TORCH) 'numpy<2'
	touch $@

# Compiled ops are required: mmdet imports mmcv.ops at import time (mmcv-lite is not enough).
$(VENV)/.mmcv-installed: $(VENV)/.torch-installed scripts/install_mmcv.sh
	PY=$(PY) MMCV_VERSION=$(MMCV_VERSION) MMCV_WHEELHOUSE=$(MMCV_WHEELHOUSE) MAX_JOBS=$(MAX_JOBS) \
		bash scripts/install_mmcv.sh
	touch $@

$(VENV)/.tbmm-installed: $(VENV)/.mmcv-installed pyproject.toml
	$(PIP) install -q -e '.[dev,dicom,tta,tensorboard]'
	touch $@

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
