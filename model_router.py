"""The "auto" model: each message goes to a cheap or a strong model by a few rules a user can read and edit.

The rules are settings (config.py, `.env`): AUTO_CHEAP_MODEL and AUTO_STRONG_MODEL, AUTO_LONG_CHARS (a long message
goes to the strong model), AUTO_CODE (code in the message) and AUTO_TOOLS (the message asks for what a switched-on
tool does). A task type the user picks decides before any rule: chat and simple go to the cheap model, code and
reasoning to the strong one. The first rule that matches decides; none matching, the cheap model answers. Every
decision says which rule made it and why, in words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from config import Settings
from i18n import t

AUTO = "auto"  # the model picker's choice that routes each message
TASKS = ("", "chat", "simple", "code", "reasoning")  # "": the rules decide
STRONG_TASKS = frozenset({"code", "reasoning"})

# What code looks like in a message: a fence, or a line that reads as a program's. Every run of spaces is bounded
# and never crosses a line (\s would: a long run of blank lines made matching quadratic, freezing the app).
_CODE = re.compile(
    r"```"
    r"|^[ \t]{0,40}(?:def|class|import|from[ \t]{1,10}\S{1,200}[ \t]{1,10}import|function|const|let|var|return"
    r"|#include|public|package)\b"
    r"|\bconsole\.log\(|\bprint\(|=>|\)[ \t]{0,10}\{|;[ \t]{0,40}$|</?\w{1,40}>|\bSELECT\b.{1,200}?\bFROM\b",
    re.MULTILINE | re.IGNORECASE,
)
CODE_SCAN_CHARS = 4000  # the code rule looks at the message's start only: enough to see code, bounded in time
# Words of a tool's name that say nothing about what it does.
_NAME_FILLERS = frozenset({"get", "current", "search", "base", "list", "find", "fetch", "run"})


@dataclass(frozen=True)
class RouteRules:
    """The rules as the settings give them."""

    cheap: str
    strong: str
    long_chars: int  # 0: the length rule is off
    code: bool
    tools: bool

    @classmethod
    def of(cls, settings: Settings) -> RouteRules:
        return cls(
            settings.auto_cheap_model,
            settings.auto_strong_model,
            settings.auto_long_chars,
            settings.auto_code == "on",
            settings.auto_tools == "on",
        )


@dataclass(frozen=True)
class Route:
    """The decision: the model that answers, the rule that decided ("task", "length", "code", "tools" or
    "default") and why, in words; ``strong`` is what the cost is compared with."""

    model: str
    rule: str
    why: str
    strong: str


def tool_words(tools: Sequence[str]) -> dict[str, str]:
    """What each switched-on tool is about, from its name (get_current_weather: weather), word -> tool."""
    found: dict[str, str] = {}
    for name in tools:
        for word in re.split(r"[_\W]+", name.lower()):
            if len(word) >= 4 and word not in _NAME_FILLERS:
                found.setdefault(word, name)
    return found


def _asked_tool(text: str, tools: Sequence[str]) -> tuple[str, str] | None:
    """The first (word, tool) whose subject the message names (calculate also finds "calculation")."""
    for word, tool in tool_words(tools).items():
        stem = word[:-1] if word.endswith("e") and len(word) > 5 else word
        if re.search(rf"\b{re.escape(stem)}\w*", text, re.IGNORECASE):
            return word, tool
    return None


def route(text: str, rules: RouteRules, task: str, tools: Sequence[str], lang: str) -> Route:
    """Which model answers ``text``: the task type the user picked, else the first rule that matches, else cheap."""
    cheap, strong = rules.cheap, rules.strong

    def to(model: str, rule: str, key: str, **values: object) -> Route:
        return Route(model, rule, t(key, lang, **values), strong)

    if task:
        return to(strong if task in STRONG_TASKS else cheap, "task", "route_why_task", task=t(f"task_{task}", lang))
    if rules.long_chars and len(text) >= rules.long_chars:
        return to(strong, "length", "route_why_length", chars=len(text), limit=rules.long_chars)
    if rules.code and (found := _CODE.search(text, 0, CODE_SCAN_CHARS)) is not None:
        return to(strong, "code", "route_why_code", sign=found.group(0).strip()[:20])
    if rules.tools and (asked := _asked_tool(text, tools)) is not None:
        return to(strong, "tools", "route_why_tools", word=asked[0], tool=asked[1])
    return to(cheap, "default", "route_why_default")


def offers_auto(rules: RouteRules, listed: Sequence[str]) -> bool:
    """Whether "auto" may be offered for a provider whose GET /models lists ``listed``: it serves both models the
    rules route to, or lists nothing (then the user knows what it serves)."""
    return not listed or {rules.cheap, rules.strong} <= set(listed)


def rule_table(rules: RouteRules, lang: str) -> list[dict[str, str]]:
    """The rules as rows to show (rule, when, model, where to change it), in the order they are tried."""
    off = t("route_rule_off", lang)
    rows = [
        ("task", t("route_when_task", lang), f"{rules.strong} / {rules.cheap}", "—"),
        (
            "length",
            t("route_when_length", lang, limit=rules.long_chars) if rules.long_chars else off,
            rules.strong,
            "AUTO_LONG_CHARS",
        ),
        ("code", t("route_when_code", lang) if rules.code else off, rules.strong, "AUTO_CODE"),
        ("tools", t("route_when_tools", lang) if rules.tools else off, rules.strong, "AUTO_TOOLS"),
        ("default", t("route_when_default", lang), rules.cheap, "AUTO_CHEAP_MODEL"),
    ]
    names = (t("route_rule", lang), t("route_when", lang), t("model", lang), t("route_setting", lang))
    return [dict(zip(names, row, strict=True)) for row in rows]
