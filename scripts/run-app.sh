#!/usr/bin/env bash
# Installs what is missing, then starts the app on http://localhost:8501 (extra args go to streamlit).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
ensure_requirements "$ROOT/requirements.txt"
cd "$ROOT"
exec "$VENV/bin/python" -m streamlit run app.py --browser.gatherUsageStats false "$@"
