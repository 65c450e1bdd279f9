"""The six prompt templates as data (zh and en), the few-shot examples, and the CoT / ReAct builders.

A template decides three things of a request: the system prompt, example messages placed after
it, and how the newest user message is worded. History is always sent as the user typed it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import file_version, read_json_object, table_file
from function_tools import ToolCall

QUESTION = "{question}"  # the one placeholder of a user_wrapper: where the newest message goes


@dataclass(frozen=True)
class PromptTemplate:
    key: str
    name: dict[str, str]
    system: dict[str, str]
    user_wrapper: dict[str, str] = field(default_factory=dict)
    few_shot: bool = False
    react: bool = False


TEMPLATES: dict[str, PromptTemplate] = {
    t.key: t
    for t in (
        PromptTemplate(
            key="standard",
            name={"zh": "标准助手", "en": "Standard"},
            system={
                "zh": "你是一个乐于助人的 AI 助手。回答准确、简洁；需要实时信息或计算时使用提供的工具。",
                "en": "You are a helpful AI assistant. Answer accurately and concisely; use the provided "
                "tools when you need live information or exact arithmetic.",
            },
        ),
        PromptTemplate(
            key="few_shot",
            name={"zh": "少样本示例", "en": "Few-shot"},
            system={
                "zh": "你是一个乐于助人的 AI 助手。请参照示例的格式与风格作答：先给结论，再给要点。",
                "en": "You are a helpful AI assistant. Follow the format and style of the examples: "
                "the conclusion first, then the key points.",
            },
            few_shot=True,
        ),
        PromptTemplate(
            key="chain_of_thought",
            name={"zh": "思维链 (CoT)", "en": "Chain of thought"},
            system={
                "zh": "你是一个严谨的推理助手。先逐步写出推理过程，再在最后一行以“答案：”给出结论。",
                "en": "You are a careful reasoning assistant. Write your reasoning step by step, then give "
                "the conclusion on a last line starting with 'Answer:'.",
            },
            user_wrapper={
                "zh": "{question}\n\n请一步一步地思考。",
                "en": "{question}\n\nLet's think step by step.",
            },
        ),
        PromptTemplate(
            key="react",
            name={"zh": "ReAct 推理+行动", "en": "ReAct"},
            system={
                "zh": "你按 ReAct 方式解决问题：每一步先写“思考：”说明下一步做什么，需要信息时调用工具"
                "（行动），读到工具结果（观察）后继续思考，直到能写出“最终答案：”。",
                "en": "You solve problems the ReAct way: each step starts with 'Thought:' saying what to do "
                "next; call a tool when you need information (Action), read its result (Observation), "
                "and continue until you can write 'Final Answer:'.",
            },
            react=True,
        ),
        PromptTemplate(
            key="code_assistant",
            name={"zh": "代码助手", "en": "Code assistant"},
            system={
                "zh": "你是一名资深软件工程师。给出可运行、带类型注解的代码，放在标注语言的代码块中，"
                "并简要说明关键设计与边界情况。",
                "en": "You are a senior software engineer. Give runnable, typed code in fenced code blocks "
                "with the language named, and briefly explain key choices and edge cases.",
            },
        ),
        PromptTemplate(
            key="translator",
            name={"zh": "翻译助手", "en": "Translator"},
            system={
                "zh": "你是专业翻译。中文翻译成英文，其他语言翻译成中文。只输出译文，保留原文格式与术语。",
                "en": "You are a professional translator. Translate English into Chinese and any other "
                "language into English. Output only the translation, keeping formatting and terms.",
            },
            user_wrapper={"zh": "请翻译：\n\n{question}", "en": "Translate:\n\n{question}"},
        ),
    )
}

DEFAULT_TEMPLATE = "standard"

_FEW_SHOT: dict[str, list[tuple[str, str]]] = {
    "zh": [
        (
            "HTTP 和 HTTPS 有什么区别？",
            "结论：HTTPS 是加密的 HTTP。\n- 传输经 TLS 加密\n- 默认端口 443（HTTP 为 80）\n- 需要证书",
        ),
        (
            "Python 列表和元组的区别？",
            "结论：列表可变，元组不可变。\n- 列表用 []，元组用 ()\n- 元组可作字典键\n- 元组略省内存",
        ),
    ],
    "en": [
        (
            "What is the difference between HTTP and HTTPS?",
            "Conclusion: HTTPS is HTTP over encryption.\n- Traffic is encrypted with TLS\n- Default port 443 (HTTP: 80)\n- Needs a certificate",
        ),
        (
            "Lists versus tuples in Python?",
            "Conclusion: lists are mutable, tuples are not.\n- Lists use [], tuples ()\n- Tuples can be dict keys\n- Tuples use slightly less memory",
        ),
    ],
}

_FEW_SHOT_TOOL: dict[str, tuple[str, str, str]] = {
    "zh": ("25 乘以 4 等于多少？", '{"expression": "25*4"}', "结论：25 × 4 = 100。\n- 由 calculate 工具精确计算"),
    "en": (
        "What is 25 times 4?",
        '{"expression": "25*4"}',
        "Conclusion: 25 × 4 = 100.\n- Computed exactly with the calculate tool",
    ),
}


class TemplateFileError(ValueError):
    """The templates file cannot be read; the message names the file and the entry."""


def _both(value: Any, field_name: str, key: str) -> dict[str, str]:
    """A zh/en pair; a single string serves both languages."""
    if isinstance(value, str):
        return {"zh": value, "en": value}
    if isinstance(value, dict) and all(isinstance(value.get(lang), str) for lang in ("zh", "en")):
        return {"zh": value["zh"], "en": value["en"]}
    raise TemplateFileError(f"template {key!r}: {field_name} must be a string or {{'zh': ..., 'en': ...}}")


@functools.lru_cache(maxsize=4)
def _file_templates(path: str, version: tuple[int, int]) -> dict[str, PromptTemplate]:
    """TEMPLATES_FILE (JSON): {"key": {"name", "system", "user_wrapper"?, "few_shot"?, "react"?}}; read once per
    ``version`` of the file (config.file_version), so an edit shows at the next page run."""
    entries = read_json_object(path, TemplateFileError)
    found = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise TemplateFileError(f"{path}: template {key!r} must be an object")
        wrapper = _both(entry["user_wrapper"], "user_wrapper", key) if entry.get("user_wrapper") else {}
        if any(QUESTION not in text for text in wrapper.values()):
            raise TemplateFileError(f"{path}: template {key!r}: user_wrapper must contain {QUESTION}")
        found[key] = PromptTemplate(
            key=key,
            name=_both(entry.get("name", key), "name", key),
            system=_both(entry.get("system"), "system", key),
            user_wrapper=wrapper,
            few_shot=bool(entry.get("few_shot", False)),
            react=bool(entry.get("react", False)),
        )
    return found


def all_templates(path: Path | None = None) -> dict[str, PromptTemplate]:
    """The six built-in templates, then those of the templates file: ``path`` (``settings.templates_file``),
    else the TEMPLATES_FILE setting as config reads it from `.env` or the environment."""
    file = path or table_file("TEMPLATES_FILE")
    version = file_version(file)
    return {**TEMPLATES, **(_file_templates(str(file), version) if version is not None else {})}


def get_template(key: str) -> PromptTemplate:
    templates = all_templates()
    return templates.get(key, templates[DEFAULT_TEMPLATE])


def few_shot_messages(language: str, tool_names: Sequence[str]) -> list[dict[str, Any]]:
    """Example turns; the tool-call example only when the calculator is enabled."""
    messages: list[dict[str, Any]] = []
    for question, answer in _FEW_SHOT[language]:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if "calculate" in tool_names:
        question, arguments, answer = _FEW_SHOT_TOOL[language]
        call_id = "call_example_calculate"
        messages += [
            {"role": "user", "content": question},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [ToolCall(call_id, "calculate", arguments).to_param()],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"expression": "25*4", "result": 100}'},
            {"role": "assistant", "content": answer},
        ]
    return messages


def react_instructions(language: str, tool_names: Sequence[str]) -> str:
    listed = ", ".join(tool_names)
    if language == "zh":
        return f"\n\n可用工具：{listed or '无'}。没有合适的工具时，直接凭知识推理。"
    return f"\n\nAvailable tools: {listed or 'none'}. When no tool fits, reason from what you know."


def system_prompt(template: PromptTemplate, language: str, tool_names: Sequence[str]) -> str:
    text = template.system[language]
    if template.react:
        text += react_instructions(language, tool_names)
    return text


def prefix_messages(
    template_key: str, language: str, tool_names: Sequence[str], custom_system: str = ""
) -> list[dict[str, Any]]:
    """The system prompt (the user's own for this chat, when written) and any example turns."""
    template = get_template(template_key)
    text = custom_system.strip() or system_prompt(template, language, tool_names)
    messages: list[dict[str, Any]] = [{"role": "system", "content": text}]
    if template.few_shot:
        messages += few_shot_messages(language, tool_names)
    return messages


def wrap_user(template_key: str, language: str, text: str) -> str:
    """The newest message in the template's wrapper. Plain replacement, never str.format: a wrapper from the
    templates file may hold literal braces ({"answer": ...}) or a field lookup ({question.__class__})."""
    wrapper = get_template(template_key).user_wrapper.get(language)
    return wrapper.replace(QUESTION, text) if wrapper else text


SUMMARY_INSTRUCTIONS = {
    "zh": "请把下面这段对话压缩成一份简洁的摘要，供后续对话参考。保留事实、数字、结论、用户的偏好与要求，"
    "以及工具调用的结果；不要编造内容。只输出摘要。",
    "en": "Condense the conversation below into a short summary to carry the chat forward. Keep facts, numbers, "
    "decisions, the user's preferences and requests, and the results of tool calls; invent nothing. Output only "
    "the summary.",
}


def summary_messages(language: str, previous_summary: str | None, transcript: str) -> list[dict[str, Any]]:
    """The request that asks a model to summarise older turns (folding in an earlier summary)."""
    text = f"{previous_summary}\n\n{transcript}" if previous_summary else transcript
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS[language]},
        {"role": "user", "content": text},
    ]


TITLE_INSTRUCTIONS = {
    "zh": "为下面这段对话起一个简短的标题：最多 12 个汉字（或 6 个英文单词），使用对话所用的语言；不加引号，"
    "结尾不加标点，不要解释。只输出标题。",
    "en": "Write a short title for the conversation below: at most 6 words (or 12 Chinese characters), in the "
    "language the conversation is in; no quotes, no punctuation at the end, no explanation. Output only the title.",
}


def title_messages(language: str, transcript: str) -> list[dict[str, Any]]:
    """The request that asks a model to name a chat after its first exchange (titling.py)."""
    return [
        {"role": "system", "content": TITLE_INSTRUCTIONS[language]},
        {"role": "user", "content": transcript},
    ]
