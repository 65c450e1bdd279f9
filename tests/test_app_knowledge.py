"""The knowledge base in the UI (AppTest): the 📚 dialog (upload each file type, paste, list, preview, delete),
a chat's collections, and the sources under an answer that searched it."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from app_driver import rendered, send, start
from conversation_manager import Message
from document_files import docx_bytes, pdf_bytes
from scripted_server import Reply
from ui_sources import reply_sources

SAMPLE = "sample"


def open_knowledge(at: AppTest) -> AppTest:
    at.sidebar.button(key="kb_open").click().run()
    assert not at.exception, at.exception
    return at


def notices(at: AppTest) -> tuple[list[str], list[str]]:
    """The dialog's success and error notices, as a reader sees them."""
    return [rendered(s.value) for s in at.success], [rendered(e.value) for e in at.error]


def uploader(at: AppTest):
    [found] = [u for u in at.file_uploader if u.key and u.key.startswith("kb_upload_")]
    return found


def documents(at: AppTest) -> list[str]:
    return [e.label for e in at.expander if e.label.startswith("📄")]


def popovers(at: AppTest) -> dict[str, list[str]]:
    """Each popover of the main area by its label, with the texts inside it."""
    found: dict[str, list[str]] = {}

    def walk(node: object) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "popover":
                texts = [rendered(e.value) for e in child if e.type in ("markdown", "caption")]
                found[rendered(child.proto.popover.label)] = texts
            walk(child)

    walk(at.main)
    return found


def test_a_new_user_finds_the_sample_collection_chosen_and_listed(app_env):
    at = start()
    picker = at.sidebar.multiselect(key="kb_collections")
    assert picker.value == [SAMPLE] and picker.label == "Knowledge collections"
    open_knowledge(at)
    assert "📄 streaming\\.md · md · 3 passages · 1.5 KB" in documents(at)
    assert uploader(at).allowed_type == [".txt", ".md", ".pdf", ".docx"]


def test_pasted_text_is_listed_previewed_chosen_for_the_chat_and_deleted(app_env):
    at = open_knowledge(start())
    at.text_input(key="kb_paste_title").input("Deploy notes")
    at.text_area(key="kb_paste_text").input("# Deploy\n## Rollback\nRun make rollback, then check the health page.")
    at.button(key="kb_paste_add").click().run()
    assert notices(at) == (["Added Deploy notes to “My documents”: 1 passages"], [])
    assert at.text_input(key="kb_paste_title").value == "" and at.text_area(key="kb_paste_text").value == ""
    [entry] = [e for e in at.expander if e.label.startswith("📄 Deploy notes")]
    assert "Run make rollback, then check the health page." in [rendered(m.value) for m in entry.markdown]
    assert at.sidebar.multiselect(key="kb_collections").value == [SAMPLE, "My documents"]  # the chat sees it at once
    [delete] = [b for b in entry.button if b.key and b.key.startswith("kb_delete_")]
    delete.click().run()
    assert notices(at) == (["Deleted Deploy notes"], [])
    assert not [label for label in documents(at) if "Deploy" in label]


def test_each_file_type_uploads_and_a_damaged_pdf_is_refused_alone(app_env):
    at = open_knowledge(start())
    pdf = pdf_bytes(["Rollback runbook: run make rollback."])
    files = [
        ("plain.txt", "纯文本：流式输出被中断时保留已收到的文本。".encode(), "text/plain"),
        ("guide.md", b"# Guide\n## Setup\nInstall the wheel.\n## Use\nRun the app.\n", "text/markdown"),
        ("runbook.pdf", pdf, "application/pdf"),
        ("report.docx", docx_bytes("Report", [("Summary", "Costs went down.")]), "application/octet-stream"),
        ("broken.pdf", pdf[: len(pdf) // 2], "application/pdf"),
    ]
    first = uploader(at)
    first.set_value(files).run()
    assert not at.exception, at.exception
    added, refused = notices(at)
    assert added == [
        "Added plain.txt to “My documents”: 1 passages",
        "Added guide.md to “My documents”: 2 passages",
        "Added runbook.pdf to “My documents”: 1 passages",
        "Added report.docx to “My documents”: 1 passages",
    ]
    assert refused == ["Not added broken.pdf: the PDF is damaged, or no PDF at all, and cannot be read"]
    listed = documents(at)
    for name in ("plain\\.txt · txt", "guide\\.md · md", "runbook\\.pdf · pdf", "report\\.docx · docx"):
        assert any(label.startswith(f"📄 {name}") for label in listed), name
    assert not any("broken" in label for label in listed)
    assert uploader(at).key != first.key  # a fresh, empty uploader for the next files


def test_a_file_over_the_size_limit_is_refused_with_the_limit(app_env, monkeypatch):
    monkeypatch.setenv("KNOWLEDGE_MAX_FILE_MB", "1")
    at = open_knowledge(start())
    uploader(at).set_value([("big.txt", b"a" * (1024 * 1024 + 1), "text/plain")]).run()
    refused = "Not added big.txt: it has 1.0 MB, more than the limit of 1.0 MB (KNOWLEDGE_MAX_FILE_MB)"
    assert notices(at) == ([], [refused])


def test_an_answer_that_searched_shows_its_sources_which_open_the_passage(app_env):
    app_env.expect(
        Reply(tool_calls=[("search_knowledge_base", '{"query": "流式输出中断怎么办", "top_k": 1}')]),
        Reply(text="保留已收到的文本并继续生成 [streaming.md #2]。"),
    )
    at = send(start(), "流式输出中断怎么办？")
    tool = app_env.chat_requests()[1]["messages"][-1]
    assert [(p["document"], p["passage"]) for p in json.loads(tool["content"])] == [("streaming.md", 2)]
    assert "Sources" in [c.value for c in at.caption]
    opened = popovers(at)["📄 streaming.md · passage 2"]
    section = "Streaming output / 流式输出 › A stream that ends early / 流被中断"
    assert opened[0] == f"Collection “Sample: the OpenAI API and this app” · {section}"
    assert opened[1].startswith("If the connection drops, the stream simply ends without a finish_reason.")


def test_the_chats_collections_scope_the_search_and_stay_with_the_chat(app_env):
    at = open_knowledge(start())
    at.text_input(key="kb_paste_title").input("Deploy notes")
    at.text_area(key="kb_paste_text").input("Streaming deploys roll back with make rollback.")
    at.button(key="kb_paste_add").click().run()
    at.sidebar.multiselect(key="kb_collections").set_value(["My documents"]).run()
    app_env.expect(
        Reply(tool_calls=[("search_knowledge_base", '{"query": "streaming", "top_k": 5}')]),
        Reply(text="Roll back [Deploy notes #1]."),
    )
    send(at, "How do streaming deploys roll back?")
    found = json.loads(app_env.chat_requests()[1]["messages"][-1]["content"])
    assert [(p["collection"], p["document"]) for p in found] == [("My documents", "Deploy notes")]
    chat_id = at.query_params["chat"]
    again = start(chat_id)
    assert again.sidebar.multiselect(key="kb_collections").value == ["My documents"]


def test_sources_pair_each_call_with_its_own_rounds_result_though_ids_repeat():
    found = [{"document": "guide.md", "passage": 2, "collection": "docs", "title": "Guide", "text": "Retry later."}]
    reply = [
        Message("assistant", tool_calls=[{"id": "call_0", "name": "search_knowledge_base", "arguments": "{}"}]),
        Message("tool", json.dumps(found), tool_call_id="call_0", name="search_knowledge_base"),
        Message("assistant", tool_calls=[{"id": "call_0", "name": "calculate", "arguments": "{}"}]),
        Message("tool", '{"result": 5}', tool_call_id="call_0", name="calculate"),
        Message("assistant", "Retry later [guide.md #2]."),
    ]
    assert [(p.document, p.passage, p.text) for p in reply_sources(reply)] == [("guide.md", 2, "Retry later.")]
