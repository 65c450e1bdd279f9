#!/usr/bin/env bash
# Installs what is missing, then starts the app on http://localhost:8501 (extra args go to streamlit).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-env.sh"
ensure_requirements "$ROOT/requirements.txt"
cd "$ROOT"
# With no OPENAI_API_KEY / OPENAI_BASE_URL the app chats on the embedded local model; a user with a key
# never pays its build. INSTALL_LOCAL_MODEL=1 installs it anyway (to pick it in the sidebar).
if [ "${INSTALL_LOCAL_MODEL:-0}" = "1" ] ||
  [ "$("$VENV/bin/python" -c 'import config; print(config.load_settings().is_local)' 2>/dev/null)" = "True" ]; then
  ensure_local_backend
fi
exec "$VENV/bin/python" -m streamlit run app.py --browser.gatherUsageStats false "$@"
