from knowledge_base import SAMPLE_COLLECTION, KnowledgeBase, split_sections, terms


def test_terms_are_words_and_chinese_bigrams():
    assert terms("Stream_options include_usage!") == ["stream_options", "include_usage"]
    assert terms("流式输出") == ["流式", "式输", "输出"]
    assert terms("gpt-4o 的价格") == ["gpt-4o", "的价", "价格"]


def test_sections_carry_their_document_title():
    passages = split_sections("# Doc\nintro\n## Part A\nalpha\n## Part B\nbeta\n", "doc.md")
    assert [(p.title, p.text) for p in passages] == [
        ("Doc", "intro"),
        ("Doc › Part A", "alpha"),
        ("Doc › Part B", "beta"),
    ]


def test_ranking_prefers_the_passage_that_matches_more_rarely_used_words(tmp_path):
    (tmp_path / "a.md").write_text("# A\n## One\ntokens tokens cost\n## Two\nstreaming events\n")
    (tmp_path / "b.md").write_text("# B\n## Three\nretry after header backoff\n")
    knowledge = KnowledgeBase.from_directory(tmp_path)
    assert [h.title for h in knowledge.search("backoff retry", 2)] == ["B › Three"]
    assert knowledge.search("streaming", 1)[0].title == "A › Two"
    assert KnowledgeBase.from_directory(tmp_path / "empty").search("anything") == []


def test_words_of_any_script_are_terms_and_kana_go_in_bigrams_as_chinese_does():
    assert terms("Größe café Привет 한국어") == ["größe", "café", "привет", "한국어"]
    assert terms("ドキュメント") == ["ドキ", "キュ", "ュメ", "メン", "ント"]


def test_the_in_memory_index_is_the_sample_collection(tmp_path):
    (tmp_path / "a.md").write_text("# A\n## One\nstreaming events\n")
    knowledge = KnowledgeBase.from_directory(tmp_path)
    [hit] = knowledge.search("streaming", collections=[SAMPLE_COLLECTION])
    assert (hit.source, hit.passage, hit.collection) == ("a.md", 1, SAMPLE_COLLECTION)
    assert knowledge.search("streaming", collections=["mine"]) == []
