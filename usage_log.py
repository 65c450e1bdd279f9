"""The usage log's arithmetic, without Streamlit: a call's row as the Usage page and its CSV show it, sums per day
(in the reader's time zone) and per model, and this month's spend projected to the month's end.

The rows themselves are ``store.Store.api_calls`` (table ``api_calls``, m013): every HTTP attempt of a reply and every
call beside replies (summaries, titles, moderation), each with its owner and chat.
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from store import LoggedCall

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
    cost = call.call.cost
    if cost is None:
        return 0.0
    return cost.cny if currency == "CNY" else cost.usd


def local_time(at: str, zone: tzinfo) -> datetime:
    """A stored UTC ISO timestamp in the reader's time zone (a timestamp without a zone is taken as UTC)."""
    moment = datetime.fromisoformat(at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def day_start(day: date, zone: tzinfo) -> str:
    """The UTC ISO timestamp at which ``day`` begins in ``zone``, as the store compares times."""
    return datetime.combine(day, time(), zone).astimezone(UTC).isoformat(timespec="milliseconds")


def csv_text(calls: Iterable[LoggedCall]) -> str:
    """The calls as CSV (``CSV_COLUMNS``), times in UTC, costs in both currencies."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for logged in calls:
        call = logged.call
        usage, cost = call.usage, call.cost
        writer.writerow(
            (
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
        )
    return out.getvalue()


@dataclass(frozen=True)
class Sums:
    """Cost and tokens of a group of calls (a day, a model)."""

    label: str
    cost: float
    prompt_tokens: int
    completion_tokens: int
    calls: int


def _summed(groups: dict[str, list[LoggedCall]], currency: str) -> list[Sums]:
    return [
        Sums(
            label,
            sum(cost_in(call, currency) for call in calls),
            sum(call.call.usage.prompt_tokens for call in calls if call.call.usage),
            sum(call.call.usage.completion_tokens for call in calls if call.call.usage),
            len(calls),
        )
        for label, calls in groups.items()
    ]


def per_day(calls: Iterable[LoggedCall], zone: tzinfo, currency: str) -> list[Sums]:
    """Sums per day in the reader's time zone (YYYY-MM-DD), oldest first."""
    groups: dict[str, list[LoggedCall]] = {}
    for call in calls:
        groups.setdefault(local_time(call.call.at, zone).date().isoformat(), []).append(call)
    return sorted(_summed(groups, currency), key=lambda sums: sums.label)


def per_model(calls: Iterable[LoggedCall], currency: str) -> list[Sums]:
    """Sums per model, the costliest first."""
    groups: dict[str, list[LoggedCall]] = {}
    for call in calls:
        groups.setdefault(call.call.model, []).append(call)
    return sorted(_summed(groups, currency), key=lambda sums: (-sums.cost, sums.label))


@dataclass(frozen=True)
class Projection:
    """This month's spend so far and where the month ends at the same daily rate."""

    spent: float
    projected: float
    days_counted: int  # days of the month so far, today included
    days_in_month: int


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s month in ``now``'s own time zone (``now`` must carry one)."""
    if now.tzinfo is None:
        raise ValueError("now needs a time zone: the month begins at local midnight")
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def project_month(costs: Iterable[tuple[str, float]], now: datetime) -> Projection:
    """This month's spend (``costs``: each call's UTC ISO time and cost; those before the month, in ``now``'s time
    zone, or after ``now`` are left out) and the month's end at the daily rate so far: spent / days so far (today
    counts as a whole day) x days in the month."""
    start, zone = month_start(now), now.tzinfo
    assert zone is not None  # month_start checked it
    spent = sum(cost for at, cost in costs if start <= local_time(at, zone) <= now)
    days = calendar.monthrange(now.year, now.month)[1]
    return Projection(spent, spent / now.day * days, now.day, days)


def date_range(first: date, last: date, zone: tzinfo) -> tuple[str, str]:
    """The UTC ISO bounds of the days ``first`` to ``last`` (both included) in ``zone``: since, until."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def chat_choices(calls: Sequence[LoggedCall]) -> dict[str, str]:
    """The chats the calls were made for, id to title (a title-less or deleted chat by its id's start)."""
    return {call.chat_id: call.title or call.chat_id[:8] for call in calls}


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
