import re

from i18n import STRINGS, pick_language, t


def test_every_string_has_both_languages_and_the_same_placeholders():
    for key, (zh, en) in STRINGS.items():
        assert zh.strip() and en.strip(), key
        assert set(re.findall(r"\{(\w+)", zh)) == set(re.findall(r"\{(\w+)", en)), key


def test_language_follows_the_setting_then_the_browser():
    assert pick_language("en", "zh-CN") == "en"
    assert pick_language("auto", "zh-TW") == "zh"
    assert pick_language("auto", "fr-FR") == "en"
    assert pick_language("auto", None) == "en"
    assert t("show_earlier", "zh", count=3) == "显示更早的 3 条消息"
