# The two commands in the README: `make compare` (set up, then compare the built-in models on Korean
# prompts and write the report) and `make test` (set up everything, then run the whole test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPORT ?= kollama-report

.PHONY: setup setup-all system-deps compare lint test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

# llama-cpp-python is compiled for this CPU (-march=native), except for ggml's AMX kernels: on
# machines that advertise AMX but do not grant its tile state (VMs and sandboxes, this one included)
# they crash in the first matrix multiply. Built without a cached wheel so the flags always apply.
LLAMA_CPU_FLAGS ?= -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
$(VENV)/.llama: $(BIN)/python
	CFLAGS="$(LLAMA_CPU_FLAGS)" CXXFLAGS="$(LLAMA_CPU_FLAGS)" \
	  $(BIN)/python -m pip install -q --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python "$$(sed -n 's/^ *"\(llama-cpp-python[^"]*\)",*$$/\1/p' pyproject.toml | head -1)"
	touch $@

# Core only: the main job needs no torch, browser or OCR.
$(VENV)/.core: $(VENV)/.llama pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

# Everything: training extras, the fast RAG embedder (onnxruntime) and test tools.
$(VENV)/.all: $(VENV)/.core
	$(BIN)/python -m pip install -q -e '.[tune,dev,fast]'
	touch $@

setup: $(VENV)/.core
setup-all: $(VENV)/.all

system-deps:
	bash scripts/install-system-deps.sh

compare: setup
	$(BIN)/kollama compare smollm2 gemma3 --suite ko-basic --lock off,script --out $(REPORT)

lint: setup-all
	$(BIN)/ruff check src tests benchmarks

# pytest exits 5 when it collects no tests; that is a failure of the suite, not a pass, so it is reported.
test: setup-all system-deps lint
	$(BIN)/python -m pytest -q --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

# The quick loop: pure-Python units and in-process tests, no `slow` ones (under 2 minutes).
test-fast: setup-all lint
	$(BIN)/python -m pytest -q -m "not slow" --durations=10; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

bench: setup-all
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(REPORT) .pytest_cache
