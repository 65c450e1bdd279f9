"""The chat list's groups: pinned chats first, then by how long ago each was last written to, in the user's time zone.

"Today" is the user's calendar day, not the last 24 hours: a chat from 23:50 is "yesterday" ten minutes later. A stored
time is UTC ISO 8601 (store.py); calendar days are compared in the browser's zone, so daylight saving changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from i18n import t

# Each group of recent days: its i18n key and how many days back (today is 0) it reaches.
RECENT_GROUPS: tuple[tuple[str, int], ...] = (
    ("group_today", 0),
    ("group_yesterday", 1),
    ("group_last_7_days", 6),
    ("group_last_30_days", 29),
)
PINNED = "group_pinned"
UNDATED = "group_undated"  # a time that does not read as one: last, never a reason to fail


class Listed(Protocol):
    """What grouping needs of a chat (store.ConversationSummary has it)."""

    @property
    def updated_at(self) -> str: ...

    @property
    def pinned(self) -> bool: ...


ListedT = TypeVar("ListedT", bound=Listed)


@dataclass(frozen=True)
class Group(Generic[ListedT]):
    """One caption of the list and its chats, in the order they came. ``key`` is an i18n key, or ``month`` says
    which month ("2026-09") an older chat was last written in."""

    key: str = ""
    month: str = ""
    items: list[ListedT] = field(default_factory=list)

    def label(self, lang: str) -> str:
        return self.month or t(self.key, lang)


def zone(name: str | None) -> tzinfo:
    """The browser's time zone by its IANA name (st.context.timezone); UTC when it sends none or one unknown here."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def group(items: list[ListedT], time_zone: str | None, now: datetime | None = None) -> list[Group[ListedT]]:
    """The chats in groups: pinned, today, yesterday, last 7 days, last 30 days, then each older month, newest first,
    and undated last; a group with no chat is left out. Chats keep their order inside a group."""
    where = zone(time_zone)
    today = (now or datetime.now(UTC)).astimezone(where).date()
    grouped: dict[tuple[int, int, str, str], list[ListedT]] = {}
    for item in items:
        grouped.setdefault(_place(item, today, where), []).append(item)
    return [Group(key, month, chats) for (_, _, key, month), chats in sorted(grouped.items())]


def _place(item: Listed, today: date, where: tzinfo) -> tuple[int, int, str, str]:
    """(rank, -yyyymm, i18n key, month): the group an item goes in, as it sorts from the top of the list."""
    if item.pinned:
        return 0, 0, PINNED, ""
    day = _local_day(item.updated_at, where)
    if day is None:
        return len(RECENT_GROUPS) + 2, 0, UNDATED, ""
    days_ago = (today - day).days
    for rank, (key, reach) in enumerate(RECENT_GROUPS, 1):
        if days_ago <= reach:  # a time ahead of this clock (another server's) counts as today
            return rank, 0, key, ""
    return len(RECENT_GROUPS) + 1, -(day.year * 100 + day.month), "", f"{day:%Y-%m}"


def _local_day(stamp: str, where: tzinfo) -> date | None:
    """The calendar day a stored time (ISO 8601, UTC when it names no zone) falls on in ``where``."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(where).date()
