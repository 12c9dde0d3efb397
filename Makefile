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
# pyproject.toml's optional extras that setup installs (the tests need all of them: under CI=true a
# test skipped for a missing one fails the run).
EXTRAS ?= train,dev,dicom,tta,tensorboard,deploy,export

PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# Each stamp's name carries a hash of what it was installed with (TORCH, MMCV_VERSION, EXTRAS), so a
# .venv built for another torch build or other extras is reinstalled instead of silently reused
# (`make -n setup TORCH=...` shows it); each install removes the stamps of the values it replaces.
spec_hash = $(shell printf '%s' '$(1)' | sha1sum | cut -c1-12)
TORCH_STAMP := $(VENV)/.torch-installed-$(call spec_hash,$(TORCH))
MMCV_STAMP := $(VENV)/.mmcv-installed-$(call spec_hash,$(MMCV_VERSION))
TBMM_STAMP := $(VENV)/.tbmm-installed-$(call spec_hash,$(EXTRAS))

.PHONY: setup demo test lint clean-venv

setup: $(TBMM_STAMP)

$(TORCH_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip 'setuptools<82' wheel ninja
	$(PIP) install -q $(TORCH) 'numpy<2'
	rm -f $(VENV)/.torch-installed*
	touch $@

# Compiled ops are required: mmdet imports mmcv.ops at import time (mmcv-lite is not enough).
$(MMCV_STAMP): $(TORCH_STAMP) scripts/install_mmcv.sh
	PY=$(PY) MMCV_VERSION=$(MMCV_VERSION) MMCV_WHEELHOUSE=$(MMCV_WHEELHOUSE) MAX_JOBS=$(MAX_JOBS) \
		bash scripts/install_mmcv.sh
	rm -f $(VENV)/.mmcv-installed*
	touch $@

$(TBMM_STAMP): $(MMCV_STAMP) pyproject.toml
	$(PIP) install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.tbmm-installed*
	touch $@

demo: setup
	$(PY) demo/phantom_demo.py

# Lint first: `make test` (and so CI) fails on a lint error before spending minutes on the tests.
lint: setup
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
