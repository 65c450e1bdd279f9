#!/usr/bin/env bash
# Installs what is missing (venv, dev requirements, Debian's chromium), then runs the browser benchmark against
# the canonical Streamlit chatbot: bench/browser.py with the given arguments (--runs N, --smoke, --only ...).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
ensure_requirements "$ROOT/requirements-dev.txt" "$ROOT/requirements.txt"

if [ ! -x /usr/bin/chromium ]; then
  echo "==> Installing Debian packages: chromium"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

cd "$ROOT"
exec "$VENV/bin/python" bench/browser.py "$@"
