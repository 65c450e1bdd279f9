"""End to end: what the repo's own Streamlit settings promise a user who starts the app as the README says."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import TEST_KEY
from streamlit_process import free_port

pytestmark = pytest.mark.e2e


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a listening TCP socket on ``port`` (IPv4 and IPv6), as the kernel reports them."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":
                found.append(address)
    return found


def test_the_app_listens_on_this_machine_only_and_offers_no_deploy(launch_app, page):
    app = launch_app(OPENAI_API_KEY=TEST_KEY, UI_LANGUAGE="en", APP_ENV_FILE="/nonexistent.env")
    assert listening_addresses(app.port) == ["0100007F"], "only 127.0.0.1, no 0.0.0.0 or ::"
    page.goto(app.url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stToolbar")).to_be_attached()
    expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)


def test_a_base_url_with_credentials_is_never_displayed(launch_app, page):
    closed = free_port()
    app = launch_app(
        OPENAI_API_KEY=TEST_KEY,
        OPENAI_BASE_URL=f"http://alice:s3cr3t-pass@127.0.0.1:{closed}/v1?token=qs-secret",
        OPENAI_MODEL="gpt-4o-mini",
        UI_LANGUAGE="en",
        MAX_RETRIES="0",
        CONNECT_TIMEOUT="2",
        APP_ENV_FILE="/nonexistent.env",
    )
    page.goto(app.url)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Hello?")
    box.press("Enter")
    expect(page.get_by_text("Could not reach the service")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_text("Connection", exact=True).click()
    shown = page.locator("body").inner_text()
    values = " ".join(page.locator("input, textarea").evaluate_all("nodes => nodes.map(n => n.value)"))
    assert f"127.0.0.1:{closed}" in shown
    for secret in ("s3cr3t-pass", "alice", "qs-secret", "token=", TEST_KEY):
        assert secret not in shown and secret not in values, secret
    expect(page.get_by_role("group", name="Chat message from user")).to_contain_text("Hello?")
