"""The repo's .streamlit/config.toml, as Streamlit itself reads it when started from the repo folder
(scripts/run-app.sh does so): a misspelt key would silently fall back to Streamlit's default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def effective_options() -> dict[str, str]:
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    options: dict[str, str] = {}
    section = ""
    for line in shown.splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = header.group(1)
        elif setting := re.fullmatch(r"(\w+) = (.+)", line.strip()):
            options[f"{section}.{setting.group(1)}"] = setting.group(2).strip('"')
    return options


def test_the_app_listens_on_localhost_and_shows_no_tracebacks_or_deploy():
    options = effective_options()
    assert options["server.address"] == "127.0.0.1"
    assert options["client.showErrorDetails"] == "none"
    assert options["client.toolbarMode"] == "viewer"
    assert options["browser.gatherUsageStats"] == "false"


def test_no_source_watcher_unless_a_developer_asks_for_one():
    """It walks every loaded module after each script run; `--server.fileWatcherType auto` turns it on."""
    assert effective_options()["server.fileWatcherType"] == "none"


def test_no_full_garbage_collection_after_every_script_run():
    """A hidden option (`config show` leaves it out): read as Streamlit reads it, from the repo folder."""
    read = "from streamlit import config; print(config.get_option('runner.postScriptGC'))"
    shown = subprocess.run([sys.executable, "-c", read], cwd=ROOT, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
