"""The welcome of an empty chat, as data: four example prompts chosen for the backend, and what it costs.

One table per backend. The demo model (the embedded 135M llama.cpp model) gets prompts it answers acceptably,
all in English (its Chinese is weak: its badge says so), labels in the UI language (i18n.py). A real model gets
four that show the app: a tool call, the templates, a question in Chinese, the request inspector.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import model_catalog
from config import Settings
from i18n import STRINGS, t
from token_tracker import PriceBook, Usage

Prompt = str | dict[str, str]  # one text where both languages ask the same, else one per UI language


@dataclass(frozen=True)
class Example:
    """One example prompt: its key (its button's label and note are i18n's ``welcome_<key>_label`` and
    ``welcome_<key>_note``), the prompt sent, and what the button sets for that send."""

    key: str
    prompt: Prompt
    template: str | None = None  # the template this one send goes out with
    tools: tuple[str, ...] = ()  # the tools the button switches on
    opens_inspector: bool = False  # the sidebar's last request opens once it is sent

    def label(self, lang: str) -> str:
        return t(f"welcome_{self.key}_label", lang)

    def text(self, lang: str) -> str:
        """The prompt sent when the UI speaks ``lang``."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[lang]

    def caption(self, lang: str, templates: int) -> str:
        """The note in ``lang`` with the names it refers to as the page shows them ("" when there is none)."""
        key = f"welcome_{self.key}_note"
        if key not in STRINGS:
            return ""
        return t(key, lang, templates=templates, last_request=t("last_request", lang), trace=t("trace", lang))


DEMO_EXAMPLES: tuple[Example, ...] = (
    Example("python_function", "Write a Python function that adds two numbers."),
    Example("definition", "Define photosynthesis in one sentence."),
    Example("greeting", "Write a one-line birthday greeting for a friend."),
    Example("list", "List three fruits."),
)

MODEL_EXAMPLES: tuple[Example, ...] = (
    Example(
        "tool",
        {"zh": "1234 乘以 5678 等于多少？请用计算器算。", "en": "What is 1234 × 5678? Use the calculator."},
        tools=("calculate",),
    ),
    Example(
        "template",
        {"zh": "早上好！明天的会议改到下午三点。", "en": "Good morning! Tomorrow's meeting moves to 3 pm."},
        template="translator",
    ),
    Example("chinese", "用三句话介绍一下长城的历史。"),
    Example(
        "inspector",
        {
            "zh": "用两句话解释：大语言模型里的 token 是什么？",
            "en": "In two sentences: what is a token in a language model?",
        },
        opens_inspector=True,
    ),
)


def examples(demo: bool) -> tuple[Example, ...]:
    """The four examples for the backend: the demo model's, or a real model's."""
    return DEMO_EXAMPLES if demo else MODEL_EXAMPLES


@dataclass(frozen=True)
class Rate:
    """What a million tokens cost on the connected backend: nothing (a model on this machine), a price, or unknown."""

    free: bool
    priced: bool = False
    input: float = 0.0
    output: float = 0.0
    currency: str = "USD"


def on_this_machine(endpoint: str) -> bool:
    """Whether the endpoint is a server on this machine (a loopback address or localhost)."""
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rate(settings: Settings, book: PriceBook) -> Rate:
    """The price per million tokens of the connected model: free where the price book prices it as local (the demo
    model is too), else the model catalog's; a model with no price is free when its server runs on this machine."""
    if settings.is_local or book.cost(settings.model, Usage()).local:
        return Rate(free=True)
    info = model_catalog.lookup(settings.model)
    if info.priced:
        return Rate(free=False, priced=True, input=info.input_price, output=info.output_price, currency=info.currency)
    return Rate(free=on_this_machine(settings.endpoint))
