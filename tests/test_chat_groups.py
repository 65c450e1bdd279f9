"""The chat list's groups: calendar days in the user's time zone, pinned first, older chats by month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chat_groups import PINNED, UNDATED, group, zone

SHANGHAI = "Asia/Shanghai"  # UTC+8, no daylight saving
# 2026-10-01 00:30 in Shanghai is 2026-09-30 16:30 UTC: a new day, a new month there, not yet in UTC
NOW = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Chat:
    name: str
    updated_at: str
    pinned: bool = False


def at(utc: str, name: str = "", pinned: bool = False) -> Chat:
    return Chat(name or utc, utc, pinned)


def layout(chats: list[Chat], time_zone: str | None = SHANGHAI, now: datetime = NOW) -> list[tuple[str, list[str]]]:
    return [(shown.label("en"), [chat.name for chat in shown.items]) for shown in group(chats, time_zone, now)]


def test_today_begins_at_local_midnight_not_at_utc_midnight():
    chats = [
        at("2026-09-30T16:00:00+00:00", "00:00 in Shanghai"),
        at("2026-09-30T15:59:59+00:00", "23:59:59 the day before"),
        at("2026-09-30T15:59:59.999999", "a stored time without its zone is UTC"),
    ]
    assert layout(chats) == [
        ("Today", ["00:00 in Shanghai"]),
        ("Yesterday", ["23:59:59 the day before", "a stored time without its zone is UTC"]),
    ]
    assert layout(chats, "UTC") == [("Today", [chat.name for chat in chats])]


def test_each_boundary_of_the_recent_days_and_the_months_after_them():
    local_midnight = datetime(2026, 9, 30, 16, tzinfo=UTC)  # 2026-10-01 00:00 in Shanghai

    def days_before(days: int, seconds: int = 0) -> Chat:
        moment = local_midnight - timedelta(days=days) + timedelta(seconds=seconds)
        return at(moment.isoformat(), f"{days}d{'+' if seconds > 0 else '-' if seconds < 0 else ''}")

    chats = [
        days_before(0),
        days_before(0, -1),
        days_before(1),
        days_before(1, -1),
        days_before(6),
        days_before(6, -1),
        days_before(29),
        days_before(29, -1),
        at("2026-08-01T00:00:00+00:00", "august"),
        at("2025-12-31T16:00:00+00:00", "2026-01-01 in Shanghai"),
        at("2025-12-31T15:59:59+00:00", "2025-12-31 in Shanghai"),
    ]
    assert layout(chats) == [
        ("Today", ["0d"]),
        ("Yesterday", ["0d-", "1d"]),
        ("Last 7 days", ["1d-", "6d"]),
        ("Last 30 days", ["6d-", "29d"]),
        ("2026-09", ["29d-"]),  # 2026-09-01 23:59:59 in Shanghai: 30 days before 2026-10-01
        ("2026-08", ["august"]),
        ("2026-01", ["2026-01-01 in Shanghai"]),
        ("2025-12", ["2025-12-31 in Shanghai"]),
    ]


def test_pinned_chats_come_first_whatever_their_date_and_an_unreadable_date_comes_last():
    chats = [
        at("2026-09-30T16:10:00+00:00", "today"),
        at("2020-01-01T00:00:00+00:00", "old but pinned", pinned=True),
        at("not a time", "damaged"),
        at("2026-09-30T16:20:00+00:00", "pinned today", pinned=True),
    ]
    groups = group(chats, SHANGHAI, NOW)
    assert [(shown.key, shown.month) for shown in groups] == [(PINNED, ""), ("group_today", ""), (UNDATED, "")]
    assert [chat.name for chat in groups[0].items] == ["old but pinned", "pinned today"]
    assert [shown.label("zh") for shown in groups] == ["已置顶", "今天", "日期未知"]


def test_a_time_ahead_of_this_clock_is_today_and_an_unknown_zone_is_utc():
    assert layout([at("2026-10-05T00:00:00+00:00", "ahead")]) == [("Today", ["ahead"])]
    assert zone("Not/AZone") == zone(None) == zone("") == UTC
    assert layout([at("2026-09-30T15:00:00+00:00", "x")], "Not/AZone") == [("Today", ["x"])]


def test_daylight_saving_does_not_move_a_chat_to_another_day():
    # Berlin left summer time at 03:00 on 2026-10-25; the next midnight is 23:00 UTC that day
    now = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 2026-10-26 00:30 in Berlin
    chats = [at("2026-10-25T22:59:59+00:00", "23:59:59 on the 25th"), at("2026-10-24T21:59:59+00:00", "the 24th")]
    assert layout(chats, "Europe/Berlin", now) == [
        ("Yesterday", ["23:59:59 on the 25th"]),
        ("Last 7 days", ["the 24th"]),
    ]


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(
    st.lists(st.tuples(moments, st.booleans()), max_size=30),
    moments,
    st.sampled_from([SHANGHAI, "UTC", "America/New_York"]),
)
def test_every_chat_lands_in_exactly_one_group_in_order_and_groups_run_from_newest(chats, now, time_zone):
    ordered = sorted(chats, key=lambda chat: (not chat[1], -chat[0].timestamp()))  # as Store.recent lists them
    items = [at(moment.isoformat(), str(index), pinned) for index, (moment, pinned) in enumerate(ordered)]
    groups = group(items, time_zone, now)
    assert [chat for shown in groups for chat in shown.items] == items
    assert all(shown.items for shown in groups)
    labels = [shown.label("en") for shown in groups]
    assert len(labels) == len(set(labels))
    months = [shown.month for shown in groups if shown.month]
    assert months == sorted(months, reverse=True)
