#!/usr/bin/env bash
# Sets up the LiteLLM proxy that benchmarks/gateway_overhead.py compares slokit's gateway with.
#
# LiteLLM is a benchmark-only comparison point, never a dependency of slokit: it goes into a
# virtual environment of its own, outside the project's. The version is pinned so that results
# compare across runs; the benchmark records what it found installed.
#
# Usage: bash benchmarks/litellm_env.sh            (creates $LITELLM_VENV, default below)
#        LITELLM_VENV=/some/dir bash benchmarks/litellm_env.sh
set -euo pipefail

LITELLM_VERSION="1.108.7"
LITELLM_VENV="${LITELLM_VENV:-/tmp/slokit-litellm-venv}"
PYTHON="${PYTHON:-python3}"

if [[ -x "$LITELLM_VENV/bin/litellm" ]] &&
    [[ "$("$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')" == "$LITELLM_VERSION" ]]; then
    echo "litellm $LITELLM_VERSION already in $LITELLM_VENV"
    exit 0
fi

"$PYTHON" -m venv "$LITELLM_VENV"
"$LITELLM_VENV/bin/python" -m pip install --quiet --upgrade pip
"$LITELLM_VENV/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION"
echo "litellm $LITELLM_VERSION installed in $LITELLM_VENV"
