"""The usage log's arithmetic, without Streamlit: a call's row as the Usage page and its CSV show it, sums per day
(in the reader's time zone) and per model, and this month's spend projected to the month's end.

The rows themselves are ``store.Store.api_calls`` (table ``api_calls``, m013): every HTTP attempt of a reply and every
call beside replies (summaries, titles, moderation), each with its owner and chat.
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from budget import amount_in
from events import utc_iso
from store import CallSums, LoggedCall

# The CSV's columns, in order (machine-readable names: the page's headings are i18n's).
CSV_COLUMNS = (
    "time_utc",
    "chat_id",
    "chat",
    "provider",
    "model",
    "kind",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "ttft_ms",
    "total_ms",
    "cost_usd",
    "cost_cny",
    "priced",
    "outcome",
)


def cost_in(call: LoggedCall, currency: str) -> float:
    """What the call cost in ``currency`` (CNY, else USD); 0 for an unpriced call."""
    return 0.0 if call.call.cost is None else amount_in(call.call.cost, currency)


def local_time(at: str, zone: tzinfo) -> datetime:
    """A stored UTC ISO timestamp in the reader's time zone (a timestamp without a zone is taken as UTC)."""
    moment = datetime.fromisoformat(at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def day_start(day: date, zone: tzinfo) -> str:
    """The time at which ``day`` begins in ``zone``, as the store writes and compares times (``utc_iso``)."""
    return utc_iso(datetime.combine(day, time(), zone))


# What a spreadsheet runs as a formula when a cell starts with it (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """A CSV cell that Excel or LibreOffice shows as written: text starting like a formula gets a leading quote (a chat
    title is the model's words); numbers stay numbers."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def csv_text(calls: Iterable[LoggedCall]) -> str:
    """The calls as CSV (``CSV_COLUMNS``), times in UTC, costs in both currencies; no cell runs as a formula."""
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180 line ends: a field holding either CR or LF is quoted
    writer.writerow(CSV_COLUMNS)
    for logged in calls:
        call = logged.call
        usage, cost = call.usage, call.cost
        row = (
            call.at,
            logged.chat_id,
            logged.title,
            call.provider,
            call.model,
            call.kind,
            usage.prompt_tokens if usage else 0,
            usage.cached_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            "" if call.first_token_ms is None else call.first_token_ms,
            "" if call.total_ms is None else call.total_ms,
            cost.usd if cost else 0.0,
            cost.cny if cost else 0.0,
            int(cost.priced) if cost else 1,
            call.outcome,
        )
        writer.writerow(spreadsheet_safe(cell) for cell in row)
    return out.getvalue()


@dataclass(frozen=True)
class Sums:
    """Cost (in the reader's currency) and tokens of a group of calls (a day, a model)."""

    label: str
    cost: float
    prompt_tokens: int
    completion_tokens: int


def in_currency(groups: Iterable[CallSums], currency: str) -> list[Sums]:
    """The store's sums with their cost in ``currency`` (CNY, else USD), in the same order."""
    return [
        Sums(group.label, amount_in(group.cost, currency), group.prompt_tokens, group.completion_tokens)
        for group in groups
    ]


def per_model(groups: Iterable[CallSums], currency: str) -> list[Sums]:
    """Sums per model, the costliest first."""
    return sorted(in_currency(groups, currency), key=lambda sums: (-sums.cost, sums.label))


def days_between(first: date, last: date, zone: tzinfo) -> list[tuple[str, str, str]]:
    """Each day from ``first`` to ``last`` in ``zone``: its label (YYYY-MM-DD) and its UTC bounds (since, until), as
    ``store.Store.api_call_days`` sums per day."""
    count = (last - first).days + 1
    days = [first + timedelta(days=n) for n in range(count)]
    return [(day.isoformat(), *date_range(day, day, zone)) for day in days]


@dataclass(frozen=True)
class Projection:
    """This month's spend so far and where the month ends at the same daily rate."""

    spent: float
    projected: float


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s month in ``now``'s own time zone (``now`` must carry one)."""
    if now.tzinfo is None:
        raise ValueError("now needs a time zone: the month begins at local midnight")
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def project_month(spent: float, now: datetime) -> Projection:
    """The month's end at the daily rate so far (``spent``: since ``month_start(now)``): spent / days so far (today
    counts as a whole day) x days in the month."""
    return Projection(spent, spent / now.day * calendar.monthrange(now.year, now.month)[1])


def date_range(first: date, last: date, zone: tzinfo) -> tuple[str, str]:
    """The UTC ISO bounds of the days ``first`` to ``last`` (both included) in ``zone``: since, until."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def chat_choices(chats: dict[str, str]) -> dict[str, str]:
    """The chats calls were made for (id to title, ``store.Store.api_call_chats``), a title-less or deleted chat by
    its id's start."""
    return {chat_id: title or chat_id[:8] for chat_id, title in chats.items()}


def table_rows(calls: Iterable[LoggedCall], zone: tzinfo, currency: str) -> list[dict[str, Any]]:
    """The calls as the page's table rows (plain values: the page names the columns)."""
    return [
        {
            "time": local_time(logged.call.at, zone).replace(tzinfo=None),
            "chat": f"./?chat={logged.chat_id}",  # the chat page, from the usage page's address
            "title": logged.title,
            "provider": logged.call.provider,
            "model": logged.call.model,
            "kind": logged.call.kind,
            "prompt": logged.call.usage.prompt_tokens if logged.call.usage else 0,
            "cached": logged.call.usage.cached_tokens if logged.call.usage else 0,
            "completion": logged.call.usage.completion_tokens if logged.call.usage else 0,
            "ttft": logged.call.first_token_ms,
            "total": logged.call.total_ms,
            "cost": cost_in(logged, currency),
            "outcome": logged.call.outcome,
        }
        for logged in calls
    ]
