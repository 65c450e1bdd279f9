"""End to end, two people signed in through a real OpenID Connect provider on 127.0.0.1, each in a Chromium context
of their own: each sees only their own chats, the other's ?chat= id is not found, and a share link opens a
read-only snapshot for the other until its owner revokes it."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from scripted_server import Reply
from store import Store

from .conftest import ARTIFACTS, provider_env
from .test_browser_auth import oidc_provider, secrets_file, sign_in

__all__ = ["oidc_provider"]  # the provider fixture, used here as in test_browser_auth

WAIT = 30_000  # ms Playwright waits for the page to show something (not a measured duration)


def person(browser, url: str, email: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, url, email)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {email}")).to_be_visible(timeout=WAIT)
    return context, page


def ask(page: Page, question: str, answer: str) -> str:
    """Sends a question, waits for the answer; the chat's id from the address."""
    page.get_by_test_id("stChatInputTextArea").fill(question)
    page.get_by_test_id("stChatInputTextArea").press("Enter")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text(answer, timeout=WAIT)
    page.wait_for_url("**?chat=*", timeout=WAIT)
    return page.url.split("chat=", 1)[1].split("&", 1)[0]


def share_popover(page: Page):
    page.get_by_test_id("stSidebar").get_by_role("button", name="Share").click()
    popover = page.get_by_test_id("stPopoverBody")
    expect(popover.get_by_text("My share links")).to_be_visible(timeout=WAIT)
    return popover


def test_two_people_see_only_their_own_chats_and_a_share_link_works_until_revoked(
    server, launch_app, browser, oidc_provider, tmp_path
):
    app = launch_app(
        **provider_env(server, AUTH="oidc", AUTH_ALLOWED="@example.com", SHARED_KEY_FOR_USERS="on"),
        STREAMLIT_SECRETS_FILES=str(secrets_file(tmp_path, oidc_provider)),
    )
    ann_context, ann = person(browser, app.url, "ann@example.com")
    server.expect(Reply(text="Ann's private answer."))
    ann_chat = ask(ann, "Ann's private question", "Ann's private answer.")

    bob_context, bob = person(browser, app.url, "bob@example.com")
    bob_sidebar = bob.get_by_test_id("stSidebar")
    server.expect(Reply(text="Bob's own answer."))
    ask(bob, "Bob's own question", "Bob's own answer.")
    expect(bob_sidebar.get_by_role("button", name="Bob's own question")).to_be_visible(timeout=WAIT)
    expect(bob_sidebar.get_by_role("button", name="Ann's private question")).to_have_count(0)

    bob.goto(f"{app.url}/?chat={ann_chat}")  # Ann's chat id is simply not found for Bob
    expect(bob.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=WAIT)
    expect(bob_sidebar.get_by_role("button", name="Bob's own question")).to_be_visible(timeout=WAIT)
    expect(bob.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(bob.get_by_text("Ann's private answer.")).to_have_count(0)

    ann.reload()
    ann_sidebar = ann.get_by_test_id("stSidebar")
    expect(ann_sidebar.get_by_role("button", name="Ann's private question")).to_be_visible(timeout=WAIT)
    expect(ann_sidebar.get_by_role("button", name="Bob's own question")).to_have_count(0)
    ann_sidebar.get_by_role("button", name="Ann's private question").click()
    expect(ann.get_by_test_id("stChatMessage").last).to_contain_text("Ann's private answer.", timeout=WAIT)
    popover = share_popover(ann)
    popover.get_by_role("button", name="Publish a snapshot link").click()
    link = popover.get_by_test_id("stCode").filter(has_text="?share=")
    expect(link).to_have_count(1, timeout=WAIT)
    address = link.inner_text().strip()
    assert address.startswith(f"{app.url}") and "?share=" in address

    bob.goto(address)
    expect(bob.get_by_text("A read-only snapshot shared by ann@example.com")).to_be_visible(timeout=WAIT)
    expect(bob.get_by_test_id("stChatMessage")).to_have_count(2)
    expect(bob.get_by_test_id("stChatMessage").last).to_contain_text("Ann's private answer.")
    expect(bob.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    expect(bob.get_by_role("button", name="✏️")).to_have_count(0)
    expect(bob.get_by_role("button", name="🔄")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    bob.screenshot(path=str(ARTIFACTS / "e2e-shared-snapshot.png"), full_page=True)

    popover.get_by_role("button", name="Revoke").click()
    expect(popover.get_by_text("No share links yet.")).to_be_visible(timeout=WAIT)
    bob.goto(address)
    expect(bob.get_by_text("This share link was not found")).to_be_visible(timeout=WAIT)
    expect(bob.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(bob.get_by_text("Ann's private answer.")).to_have_count(0)
    ann_context.close()
    bob_context.close()


def test_a_daily_budget_an_admin_sets_holds_the_next_message_of_someone_already_chatting(
    server, launch_app, browser, oidc_provider, tmp_path
):
    """A message sent reruns only the chat (app.chat_area): the budget is read there, at each message, so an admin's
    change holds Bob's next message in the tab he already has open."""
    data = tmp_path / "data"
    app = launch_app(
        **provider_env(server, AUTH="oidc", AUTH_ALLOWED="@example.com", SHARED_KEY_FOR_USERS="on", DATA_DIR=str(data)),
        STREAMLIT_SECRETS_FILES=str(secrets_file(tmp_path, oidc_provider)),
    )
    bob_context, bob = person(browser, app.url, "bob@example.com")
    server.expect(Reply(text="A first answer.", usage=(2000, 1000)))
    ask(bob, "a first question", "A first answer.")

    Store.open(str(data / "chats.db")).as_user("admin@example.com").set_budget("bob@example.com", 0.0001)
    bob.get_by_test_id("stChatInputTextArea").fill("a second question")
    bob.get_by_test_id("stChatInputTextArea").press("Enter")
    expect(bob.get_by_text("An admin set it and only an admin can raise it")).to_be_visible(timeout=WAIT)
    expect(bob.get_by_test_id("stCode").filter(has_text="a second question")).to_be_visible()  # kept, not sent
    assert len([r for r in server.requests if r["method"] == "POST"]) == 1
    bob_context.close()
