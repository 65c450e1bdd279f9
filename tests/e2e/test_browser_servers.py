"""End to end: two `streamlit run` processes on one PostgreSQL database (the throwaway cluster of tests/postgres.py),
as a team runs them behind a load balancer. What one process spent, booked or saved holds in the other."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from scripted_server import Reply

from .conftest import provider_env, send

pytestmark = pytest.mark.e2e


def two_apps(server, postgres, launch_app, **settings: str):
    """App A and app B on one new database."""
    env = provider_env(server, DATABASE_URL=postgres.new_database(), **settings)
    return launch_app(**env), launch_app(**env)


@pytest.fixture
def two_pages(browser):
    """Two browsers' pages (contexts of their own), closed at the end."""
    contexts = [browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}) for _ in range(2)]
    yield [context.new_page() for context in contexts]
    for context in contexts:
        context.close()


WORDS = " ".join(f"w{i}" for i in range(400))  # 20 s at 0.05 s a word: saved as it streams


def test_a_chat_streaming_in_one_opens_in_the_other_and_its_spending_holds_the_daily_budget_there(
    server, postgres, launch_app, two_pages
):
    a, b = two_apps(server, postgres, launch_app, BUDGET_PER_DAY="0.1")
    # gpt-4o-mini: 1,000,000 prompt tokens cost $0.15, so this reply spends $0.105 of the day's $0.10
    server.expect(Reply(text=WORDS, usage=(700_000, 0), chunk_delay=0.05))
    in_a, in_b = two_pages
    in_a.goto(a.url)
    send(in_a, "Stream it in A")
    expect(in_a.get_by_test_id("stChatMessage").last).to_contain_text("w40", timeout=30_000)
    chat_id = in_a.url.split("chat=", 1)[1].split("&")[0]

    in_b.goto(f"{b.url}/?chat={chat_id}")  # while A still streams: what A has saved so far
    shown = in_b.get_by_test_id("stChatMessage")
    expect(shown.first).to_contain_text("Stream it in A", timeout=30_000)
    expect(shown.last).to_contain_text("w0 w1 w2 w3")
    expect(shown.last).not_to_contain_text("w399")
    expect(in_b.get_by_text(re.compile(r"still being written elsewhere .*every few seconds"))).to_be_visible()
    expect(in_b.get_by_text("Stopped; what arrived is kept")).to_have_count(0)  # not settled by B: A still writes
    expect(shown.last).to_contain_text("w120", timeout=30_000)  # B follows A's saves without a reload
    expect(in_a.get_by_test_id("stChatMessage").last).to_contain_text("w399", timeout=60_000)
    spent = re.compile(r"Daily budget: \$0\.1050 of \$0\.1000 used")
    expect(in_a.get_by_text(spent)).to_be_visible(timeout=30_000)  # drawn after the reply's final save

    in_b.reload()  # A's final save stands
    expect(shown.last).to_contain_text("w399", timeout=30_000)
    expect(in_b.get_by_text("Stopped; what arrived is kept")).to_have_count(0)
    expect(in_b.get_by_text(spent)).to_be_visible()  # B reads today's spending from the database
    send(in_b, "Ask again in B")
    expect(in_b.get_by_text(re.compile(r"The Daily budget is used up \(\$0\.1050 of \$0\.1000\)"))).to_be_visible(
        timeout=30_000
    )
    expect(in_b.get_by_test_id("stCode").last).to_contain_text("Ask again in B")  # held, kept
    assert len(server.chat_requests()) == 1  # B sent nothing


def test_the_rate_limit_counts_the_requests_of_both_apps(server, postgres, launch_app, page):
    a, b = two_apps(server, postgres, launch_app, RATE_LIMIT_RPM="2")
    server.expect(Reply(text="First from A."), Reply(text="Second from A."))
    page.goto(a.url)
    for number, text in enumerate(("First from A.", "Second from A."), 1):
        send(page, f"question {number}")
        expect(page.get_by_test_id("stChatMessage").last).to_contain_text(text, timeout=30_000)

    page.goto(b.url)
    send(page, "question 3, through B")
    notice = page.get_by_text(re.compile(r"Client-side rate limit: sending in (\d+\.\d) s"))
    expect(notice).to_be_visible(timeout=30_000)
    seconds = float(re.search(r"sending in (\d+\.\d) s", notice.inner_text())[1])
    assert 30.0 < seconds <= 60.0  # until A's first request leaves the minute: B's own process had sent none
    assert len(server.chat_requests()) == 2  # the third waits; it is never answered (the apps stop first)
