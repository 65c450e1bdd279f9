"""After a reply the page is completed in place, in the run that streamed it (AppTest against the scripted server):
no page refresh follows a reply that ended as replies do, so the sidebar's chat list, the usage panel, the last
request and the page title must already show what the reply changed when that run ends. The refresh is kept for
replies that leave something to ask (a failed one here)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app_driver import charts, rendered, start
from scripted_server import Reply
from ui_sidebar import LAST_REQUEST_OPEN


def sidebar_text(at: AppTest) -> str:
    return "\n".join(md.value for md in at.sidebar.markdown)


def last_request_json(at: AppTest) -> str:
    return "\n".join(str(element.value) for element in at.sidebar.json)


def opened(at: AppTest) -> AppTest:
    """The page with the sidebar's expanders open (their content is drawn only then): the last request, the token
    breakdown, the per-reply charts, the context view."""
    for key in (LAST_REQUEST_OPEN, "token_breakdown", "usage_charts", "context_view"):
        at.session_state[key] = True
    return at


def ask(at: AppTest, text: str) -> AppTest:
    """Sends ``text``: the page as that run left it, with no refresh after it."""
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_a_new_chat_is_listed_and_counted_by_the_run_that_answered_it(app_env):
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    at = ask(opened(start()), "What is the capital of France?")
    chat_id = at.session_state["session"].conversation.id
    entry = at.sidebar.button(key=f"open_{chat_id}")
    assert rendered(entry.label) == "What is the capital of France?"
    assert entry.proto.type == "primary"  # the open chat
    assert at.sidebar.text_input(key=f"title_{chat_id}").value == "What is the capital of France?"
    assert at.sidebar.button(key="delete_yes")  # what can be done with it
    assert rendered(at.title[0].value) == "What is the capital of France?"
    assert "**Last reply**  \nPrompt 20 · Completion 2 · Total 22" in sidebar_text(at)
    assert "**This conversation**  \nPrompt 20 · Completion 2 · Total 22" in sidebar_text(at)
    assert "What is the capital of France?" in last_request_json(at)


def test_a_second_reply_updates_the_figures_and_the_last_request_in_place(app_env):
    app_env.expect(Reply(text="Paris.", usage=(20, 2)), Reply(text="About 2.1 million.", usage=(40, 6)))
    at = ask(opened(start()), "What is the capital of France?")
    assert not charts(at)  # one reply: nothing to chart
    ask(at, "And its population?")
    assert len(charts(at)) == 2  # tokens and cost, per reply: the chart drawn in place, in its open expander
    assert "**Last reply**  \nPrompt 40 · Completion 6 · Total 46" in sidebar_text(at)
    assert "**This conversation**  \nPrompt 60 · Completion 8 · Total 68" in sidebar_text(at)
    assert "And its population?" in last_request_json(at)
    assert len(at.sidebar.json) == 2  # the request and the start of its response, drawn once: replaced, not added
    chat_id = at.session_state["session"].conversation.id
    assert [b.key for b in at.sidebar.button if b.key == f"open_{chat_id}"] == [f"open_{chat_id}"]  # listed once


def test_in_place_figures_match_what_the_next_page_run_draws(app_env):
    app_env.expect(Reply(text="Paris.", usage=(20, 2)), Reply(text="About 2.1 million.", usage=(40, 6)))
    at = ask(ask(opened(start()), "What is the capital of France?"), "And its population?")

    def page(at: AppTest) -> tuple:
        buttons = sorted(str(b.key) for b in at.button)  # one regenerate: the older reply's went when this came
        return (
            sidebar_text(at),
            [c.value for c in at.sidebar.caption],
            [line.value for line in at.sidebar.text],  # the context view
            [element.value for element in at.sidebar.get("html")],  # the token breakdown's bar
            at.title[0].value,
            last_request_json(at),
            buttons,
        )

    in_place = page(at)
    at.run()
    assert not at.exception, at.exception
    assert page(at) == in_place


def test_a_new_chat_is_not_added_to_a_searchs_results(app_env):
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    at = start()
    at.sidebar.text_input(key="chat_search").set_value("nothing matches this").run()
    ask(at, "What is the capital of France?")
    chat_id = at.session_state["session"].conversation.id
    assert f"open_{chat_id}" not in {b.key for b in at.sidebar.button}  # the list shows the search's results
    assert at.sidebar.text_input(key=f"title_{chat_id}").value == "What is the capital of France?"


def test_a_failed_reply_leaves_the_page_to_its_refresh(app_env):
    app_env.expect(Reply.fail(500, "the server is down"))
    at = ask(start(), "What is the capital of France?")
    chat_id = at.session_state["session"].conversation.id
    assert f"open_{chat_id}" not in {b.key for b in at.sidebar.button}  # not drawn in place
    at.run()  # the refresh the browser asks for
    assert not at.exception, at.exception
    assert f"open_{chat_id}" in {b.key for b in at.sidebar.button}


def test_a_stored_chat_without_messages_is_listed_once_after_its_first_reply(app_env, tmp_path):
    """An imported chat may have no messages: listed already, it gets no second entry (its key twice would fail)."""
    from config import load_settings
    from conversation_manager import Conversation
    from store import Store

    empty = Conversation(title="Imported, empty")
    Store(load_settings().database).add([empty])
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    at = ask(start(empty.id), "What is the capital of France?")
    assert [b.key for b in at.sidebar.button].count(f"open_{empty.id}") == 1
    assert at.sidebar.text_input(key=f"title_{empty.id}").value == "Imported, empty"
