"""End to end: sign-in through a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock: a real
authorization-code flow whose form takes the subject, which it also gives as the e-mail claim), and the
trusted-proxy header, in headless Chromium against `streamlit run`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from scripted_server import Reply

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """The provider on 127.0.0.1 (Authlib allows plain HTTP on a loopback address); its issuer URL."""
    provider = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=provider.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{provider.server_port}"
    provider.shutdown()
    thread.join(5)


def secrets_file(folder: Path, issuer: str) -> Path:
    """Streamlit's [auth] section for the provider; {port} is filled in with the app's own port."""
    section = {
        "redirect_uri": "http://127.0.0.1:{port}/oauth2callback",
        "cookie_secret": "e2e-cookie-secret-0123456789abcdef0123456789",
        "client_id": "ai-chat-app",
        "client_secret": "e2e-client-secret",
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
    }
    path = folder / "secrets.toml"
    path.write_text("[auth]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in section.items()))
    return path


def sign_in_page_only(page: Page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Please sign in to continue.")).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)


def sign_in(page: Page, url: str, email: str) -> None:
    """Through the provider's own page: its form takes the subject (and e-mail) we type."""
    page.goto(url)
    sign_in_page_only(page)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()


def test_a_user_signs_in_through_the_provider_chats_and_signs_out(server, launch_app, browser, oidc_provider, tmp_path):
    app = launch_app(
        **provider_env(server, AUTH="oidc", AUTH_ALLOWED="@example.com", SHARED_KEY_FOR_USERS="on"),
        STREAMLIT_SECRETS_FILES=str(secrets_file(tmp_path, oidc_provider)),
    )
    ann = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = ann.new_page()
    sign_in(page, app.url, "ann@example.com")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as ann@example.com")).to_be_visible(timeout=30_000)
    server.expect(Reply(text="Hello, Ann."))
    page.get_by_test_id("stChatInputTextArea").fill("Hi")
    page.get_by_test_id("stChatInputTextArea").press("Enter")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("Hello, Ann.", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-signed-in.png"), full_page=True)

    sidebar.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider ends its session too, then sends us back
    page.wait_for_url(f"{app.url}/**", timeout=30_000)
    sign_in_page_only(page)
    page.goto(app.url)  # the cookie is gone: a fresh visit is signed out too
    sign_in_page_only(page)
    ann.close()


def test_an_email_not_on_the_allow_list_is_refused(launch_app, browser, oidc_provider, tmp_path, server):
    app = launch_app(
        **provider_env(server, AUTH="oidc", AUTH_ALLOWED="@example.com"),
        STREAMLIT_SECRETS_FILES=str(secrets_file(tmp_path, oidc_provider)),
    )
    eve = browser.new_context(locale="en-US")
    page = eve.new_page()
    sign_in(page, app.url, "eve@elsewhere.example")
    expect(page.get_by_text("eve@elsewhere.example may not use this app.")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "e2e-refused.png"), full_page=True)
    eve.close()


SIGNED_IN = "Signed in as ann@example.com"
NOT_A_PROXY = "does not come from a trusted proxy"
FORWARDED = "was taken from X-Forwarded-For"


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "app_variables", "shown"),
    [
        ("", None, {}, NOT_A_PROXY),  # no proxies configured: everyone refused
        ("10.0.0.0/8", None, {}, NOT_A_PROXY),  # the browser connects from 127.0.0.1
        ("10.0.0.0/8, 127.0.0.1", None, {}, SIGNED_IN),
        # uvicorn reports a connection from this machine under the address X-Forwarded-For names: anyone can write it
        ("10.0.0.0/8", "10.0.0.5", {}, FORWARDED),
        ("127.0.0.1", "203.0.113.7", {}, FORWARDED),
        # a proxy on this machine forwarding its client's address, the app started as README says
        ("127.0.0.1", "203.0.113.7", {"FORWARDED_ALLOW_IPS": "none"}, SIGNED_IN),
    ],
)
def test_the_header_is_believed_only_from_a_trusted_proxy(
    server, launch_app, browser, proxies, forwarded_for, app_variables, shown
):
    app = launch_app(**provider_env(server, AUTH="header", AUTH_TRUSTED_PROXIES=proxies), **app_variables)
    headers = {"X-Forwarded-Email": "Ann@Example.com"} | ({"X-Forwarded-For": forwarded_for} if forwarded_for else {})
    context = browser.new_context(locale="en-US", extra_http_headers=headers)
    page = context.new_page()
    page.goto(app.url)
    expect(page.get_by_text(shown)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(1 if shown == SIGNED_IN else 0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(1 if shown == SIGNED_IN else 0)
    context.close()
