"""Spending limits per conversation and per day: a warning at 80 %, a question before sending at 100 %."""

from __future__ import annotations

from dataclasses import dataclass

from token_tracker import Cost

WARN_AT = 0.8
OK, WARNING, OVER = "ok", "warning", "over"


@dataclass(frozen=True)
class BudgetCheck:
    scope: str  # "chat" or "day"
    spent: float
    limit: float
    currency: str
    hard: bool = False  # a team's daily budget for a person: no "send anyway", only an admin raises it

    @property
    def share(self) -> float:
        return self.spent / self.limit if self.limit > 0 else 0.0

    @property
    def level(self) -> str:
        if self.limit <= 0:
            return OK
        if self.share >= 1:
            return OVER
        return WARNING if self.share >= WARN_AT else OK


def amount_in(cost: Cost, currency: str) -> float:
    """A cost in ``currency``: CNY, else USD."""
    return cost.cny if currency == "CNY" else cost.usd


def check_budgets(
    chat: Cost, today: Cost, per_chat: float, per_day: float, currency: str, day_hard: bool = False
) -> list[BudgetCheck]:
    """The limits that are set, with what has been spent against each; ``day_hard``: the daily one is a hard limit
    (a signed-in person who is not an admin); the chat's own stays the user's soft limit."""
    checks = [
        BudgetCheck("chat", amount_in(chat, currency), per_chat, currency),
        BudgetCheck("day", amount_in(today, currency), per_day, currency, hard=day_hard),
    ]
    return [check for check in checks if check.limit > 0]
