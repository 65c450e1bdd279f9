"""Conversations that last: AppTest sessions over one SQLite file and the scripted server."""

from streamlit.testing.v1 import AppTest

from app_driver import refreshed, send, start
from scripted_server import Reply


def shown(at: AppTest) -> list[list[str]]:
    return [[md.value for md in m.markdown] for m in at.chat_message]


def chat_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button if (b.key or "").startswith("open_")]


def test_a_new_session_or_a_refresh_shows_the_same_chats(app_env):
    app_env.expect(Reply(text="Stored answer."))
    first = send(start(), "Remember this")
    chat_id = first.session_state["session"].conversation.id
    assert first.query_params["chat"] == chat_id
    refreshed = start(chat_id)
    assert shown(refreshed) == [["Remember this"], ["Stored answer."]]
    other = start()
    assert shown(other) == []
    assert chat_buttons(other) == ["Remember this"]
    other.sidebar.button(key=f"open_{chat_id}").click().run()
    assert shown(other) == [["Remember this"], ["Stored answer."]]


def test_regenerate_keeps_both_versions_and_the_switcher_flips_between_them(app_env):
    app_env.expect(Reply(text="Version one."), Reply(text="Version two."))
    at = send(start(), "Tell me something")
    regenerate = next(b for b in at.button if b.key.startswith("regenerate_"))
    regenerate.click().run()
    assert shown(at)[-1] == ["Version two."]
    assert any(c.value == "2 / 2" for c in at.caption)
    previous = next(b for b in at.button if b.key.startswith("prev_"))
    previous.click().run()
    assert shown(at)[-1] == ["Version one."]
    assert any(c.value == "1 / 2" for c in at.caption)
    second_request = app_env.chat_requests()[1]["messages"]
    assert [m["content"] for m in second_request[1:]] == ["Tell me something"]
    reopened = start(at.session_state["session"].conversation.id)
    assert shown(reopened)[-1] == ["Version one."]


def test_editing_a_message_resends_it_as_a_new_version(app_env):
    app_env.expect(Reply(text="About cats."), Reply(text="About dogs."))
    at = send(start(), "Tell me about cats")
    user_id = at.session_state["session"].conversation.messages[0].id
    at.button(key=f"edit_{user_id}").click().run()
    at.text_area(key=f"edit_text_{user_id}").input("Tell me about dogs")
    refreshed(at.button(key=f"save_{user_id}").click().run())
    assert not at.exception
    assert shown(at) == [["Tell me about dogs"], ["About dogs."]]
    assert [m["content"] for m in app_env.chat_requests()[1]["messages"][1:]] == ["Tell me about dogs"]
    assert any(c.value == "2 / 2" for c in at.caption)
    at.button(key=f"prev_{at.session_state['session'].conversation.messages[0].id}").click().run()
    assert shown(at) == [["Tell me about cats"], ["About cats."]]


def test_an_interrupted_reply_can_be_continued(app_env):
    app_env.expect(Reply(text="one two three four", cut_after=2), Reply(text="three four."))
    at = send(start(), "Count")
    continue_button = next(b for b in at.button if b.key.startswith("continue_"))
    continue_button.click().run()
    sent = app_env.chat_requests()[1]["messages"]
    assert [m["content"] for m in sent[1:]] == ["Count", "one two ", "Please continue from where you stopped."]
    assert shown(at)[-1] == ["three four."]


def test_search_rename_and_delete_with_confirmation(app_env):
    app_env.expect(Reply(text="晴。"), Reply(text="They are pieces of words."))
    send(start(), "北京天气怎么样")
    at = send(start(), "How do tokens work")
    at.sidebar.text_input(key="chat_search").input("天气").run()
    assert chat_buttons(at) == ["北京天气怎么样"]
    at.sidebar.text_input(key="chat_search").input("").run()
    assert chat_buttons(at) == ["How do tokens work", "北京天气怎么样"]
    conversation_id = at.session_state["session"].conversation.id
    at.sidebar.text_input(key=f"title_{conversation_id}").input("Tokens 101").run()
    assert chat_buttons(at)[0] == "Tokens 101"
    at.sidebar.button(key="delete_yes").click().run()
    assert chat_buttons(at) == ["北京天气怎么样"]
    assert shown(at) == []


def test_each_chat_restores_its_own_settings(app_env):
    at = start()
    at.sidebar.selectbox(key="template").select("translator")
    at.sidebar.slider(key="temperature").set_value(0.3)
    at.run()
    app_env.expect(Reply(text="Hello world"), Reply(text="for i in range(3): ..."))
    send(at, "你好世界")
    translated_id = at.session_state["session"].conversation.id
    at.sidebar.button(key="new_chat").click().run()
    at.sidebar.selectbox(key="template").select("code_assistant").run()
    send(at, "Write a loop")
    at.sidebar.button(key=f"open_{translated_id}").click().run()
    assert at.sidebar.selectbox(key="template").value == "translator"
    assert at.sidebar.slider(key="temperature").value == 0.3


def test_usage_totals_for_today_and_all_time_survive_a_new_session(app_env):
    app_env.expect(Reply(text="a", usage=(100, 10)), Reply(text="b", usage=(50, 5)))
    send(start(), "one")
    send(start(), "two")
    sidebar = "\n".join(md.value for md in start().sidebar.markdown)
    assert "**All time**  \nPrompt 150 · Completion 15 · Total 165" in sidebar
    assert "**Today**  \nPrompt 150 · Completion 15 · Total 165" in sidebar


def test_a_custom_system_prompt_is_sent_and_kept_with_the_chat(app_env):
    at = start()
    at.sidebar.text_area(key="system_prompt").input("Always answer in haiku.").run()
    app_env.expect(Reply(text="Soft rain on the roof"), Reply(text="Plain answer."))
    send(at, "Tell me about rain")
    assert app_env.chat_requests()[0]["messages"][0] == {"role": "system", "content": "Always answer in haiku."}
    haiku_id = at.session_state["session"].conversation.id
    at.sidebar.button(key="new_chat").click().run()
    at.sidebar.text_area(key="system_prompt").input("").run()
    send(at, "plain")
    assert app_env.chat_requests()[1]["messages"][0]["content"].startswith("You are a helpful AI assistant")
    at.sidebar.button(key=f"open_{haiku_id}").click().run()
    assert at.sidebar.text_area(key="system_prompt").value == "Always answer in haiku."
