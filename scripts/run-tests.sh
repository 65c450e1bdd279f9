#!/usr/bin/env bash
# Installs what is missing (venv, requirements, the local model, Debian's chromium and binutils),
# then runs the linter, the type checker and every test.
# Exits non-zero on any failure, including a pytest run that collected no tests (exit code 5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
ensure_requirements "$ROOT/requirements-dev.txt" "$ROOT/requirements.txt"
ensure_local_backend

# Debian's chromium for the end-to-end tests; binutils' objdump for the portable-build check; Node.js and npm
# for the JavaScript copy-as-code test; postgresql for the store's tests on a throwaway cluster (tests/postgres.py).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v objdump >/dev/null 2>&1 || missing+=(binutils)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> Installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cd "$ROOT"
# The openai npm package the JavaScript copy-as-code runs with, exactly as tests/js/package-lock.json pins it;
# installed again whenever the lock file changes (the copy beside node_modules says what was installed).
if ! cmp -s tests/js/package-lock.json tests/js/node_modules/.installed-package-lock.json; then
  echo "==> npm ci (tests/js)"
  npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
  cp tests/js/package-lock.json tests/js/node_modules/.installed-package-lock.json
fi
echo "==> ruff"
"$VENV/bin/python" -m ruff check .
echo "==> mypy"
"$VENV/bin/python" -m mypy
echo "==> pytest"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose." >&2
  exit 1
fi
exit "$status"
