# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DATA ?= ../shared/data/dfdc-faces
WEIGHTS ?= weights/default
MODEL ?= efficientnet_lite0
EPOCHS ?= 15
DEVICE ?= cpu
OUTPUT ?= runs/$(MODEL)

.PHONY: help venv test lint train evaluate export clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet --no-deps facenet-pytorch==2.6.0
	touch $@

venv: $(STAMP)  ## create .venv with everything (first use only)

test: $(STAMP)  ## run every test
	$(PY) -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy server training export

train: $(STAMP)  ## train a model: make train MODEL=efficientnet_lite0 EPOCHS=15 DEVICE=cuda OUTPUT=runs/x
	$(PY) -m training train --data-dir $(DATA) --model $(MODEL) --epochs $(EPOCHS) --device $(DEVICE) \
		--output $(OUTPUT) $(ARGS)

evaluate: $(STAMP)  ## evaluate weights: make evaluate WEIGHTS=weights/default DATA=dir [ARGS="--split val"]
	$(PY) -m training evaluate --data-dir $(DATA) --weights $(WEIGHTS) $(ARGS)

export: $(STAMP)  ## export weights to TorchScript: make export WEIGHTS=dir [ARGS="--format tensorrt"]
	$(PY) -m export --weights $(WEIGHTS) --check-data $(DATA) $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
