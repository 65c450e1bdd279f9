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
