"""The browser benchmark's smoke run: bench/browser.py --smoke end to end, checking its mechanics (never its
speed): every section measured for ours and the baseline, every word sent seen in the page, none before the
server wrote it, CPU time counted."""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a minute on a quiet machine, more on a busy one

PAIRED = ("ttft", "stream", "long_chats", "many_users", "memory", "multi_session")


def numbers(figures: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from ((f"{key} {inner}", found) for inner, found in numbers(value))
        else:
            yield key, value


def sanity_checks(figures: dict[str, Any]) -> Iterator[dict[str, int]]:
    for key, value in figures.items():
        if key == "sanity":
            yield value
        elif isinstance(value, dict):
            yield from sanity_checks(value)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    command = [sys.executable, str(ROOT / "bench" / "browser.py"), "--smoke", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_section_has_numeric_figures_for_ours_and_the_baseline(results):
    sections = results["sections"]
    assert set(PAIRED) <= set(sections)
    for name in PAIRED:
        for app in ("ours", "baseline"):
            found = dict(numbers(sections[name][app]))
            assert found, f"{name}: nothing measured for {app}"
            wrong = {key: value for key, value in found.items() if not isinstance(value, int | float)}
            assert not wrong, f"{name} {app}: not numbers: {wrong}"
    local = sections["local_model"]["ours"]
    assert "skipped" in local or local["tokens_per_second"] > 0


def test_every_word_sent_was_seen_and_none_before_the_server_wrote_it(results):
    checks = [
        check
        for name in PAIRED
        for app in ("ours", "baseline")
        for check in sanity_checks(results["sections"][name][app])
    ]
    assert checks
    for check in checks:
        assert check["words_sent"] > 0
        assert check["words_seen"] == check["words_sent"]
        assert check["seen_before_sent"] == 0


def test_first_words_show_after_the_server_sent_them_and_cpu_time_is_counted(results):
    sections = results["sections"]
    for app in ("ours", "baseline"):
        assert sections["ttft"][app]["first_token_overhead_ms"] > 0
        assert sections["multi_session"][app]["first_token_lag_median_ms"] > 0
        assert sections["multi_session"][app]["cpu_seconds"] > 0
        assert sections["memory"][app]["idle_rss_mb"] > 0
    assert {goal["section"] for goal in results["goals"]} >= {"ttft", "stream", "long_chats", "many_users"}
