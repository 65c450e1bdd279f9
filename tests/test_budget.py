from budget import OK, OVER, WARNING, BudgetCheck, check_budgets
from token_tracker import Cost


def test_levels_at_80_and_100_percent():
    assert BudgetCheck("chat", 0.79, 1.0, "USD").level == OK
    assert BudgetCheck("chat", 0.80, 1.0, "USD").level == WARNING
    assert BudgetCheck("chat", 1.00, 1.0, "USD").level == OVER
    assert BudgetCheck("day", 5.0, 0.0, "USD").level == OK  # no limit set


def test_only_the_limits_that_are_set_are_checked_in_their_currency():
    spent_chat, spent_today = Cost(usd=0.5, cny=3.55), Cost(usd=2.0, cny=14.2)
    assert check_budgets(spent_chat, spent_today, 0, 0, "USD") == []
    (day,) = check_budgets(spent_chat, spent_today, 0, 10.0, "CNY")
    assert (day.scope, day.spent, day.currency, day.level) == ("day", 14.2, "CNY", OVER)
    chat, day = check_budgets(spent_chat, spent_today, 0.6, 100.0, "USD")
    assert (chat.level, round(chat.share, 3), day.level) == (WARNING, 0.833, OK)
