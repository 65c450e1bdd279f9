"""The send decision: every path of (typed, pending, held, budget, confirmation), and what each action sends."""

from __future__ import annotations

import pytest

from budget import BudgetCheck
from conversation_manager import Conversation, Message
from turn import Action, Ask, Go, Hold, SendState, carry_out, decide

OVER = [BudgetCheck("day", 2.0, 1.0, "USD")]
TYPED = Action("prompt", "typed text")
PENDING = Action("regenerate", "m1")
HELD = Action("prompt", "held text")

# (typed, state before, over budget?, decision, state after)
PATHS = [
    ("nothing asked, nothing held", None, SendState(), False, None, SendState()),
    ("blank input is nothing asked", "  \n", SendState(), True, None, SendState()),
    ("typed, within budget", "typed text", SendState(), False, Go(TYPED), SendState()),
    ("typed, over budget: held", "typed text", SendState(), True, Hold(TYPED, OVER[0]), SendState(held=TYPED)),
    ("pending, within budget", None, SendState(pending=PENDING), False, Go(PENDING), SendState()),
    (
        "pending, over budget: held",
        None,
        SendState(pending=PENDING),
        True,
        Hold(PENDING, OVER[0]),
        SendState(held=PENDING),
    ),
    ("confirmed, over budget: sent", None, SendState(pending=HELD, confirmed=True), True, Go(HELD), SendState()),
    (
        "confirmed, back within budget: sent",
        None,
        SendState(pending=HELD, confirmed=True),
        False,
        Go(HELD),
        SendState(),
    ),
    ("held, still over: shown again", None, SendState(held=HELD), True, Hold(HELD, OVER[0]), SendState(held=HELD)),
    ("held, back within budget: kept, not sent", None, SendState(held=HELD), False, None, SendState(held=HELD)),
    ("typed text wins over a pending action", "typed text", SendState(pending=PENDING), False, Go(TYPED), SendState()),
    (
        "typed while something is held, over: the new text is held",
        "typed text",
        SendState(held=HELD),
        True,
        Hold(TYPED, OVER[0]),
        SendState(held=TYPED),
    ),
    (
        "typed while something is held, within budget: sent, the held one kept",
        "typed text",
        SendState(held=HELD),
        False,
        Go(TYPED),
        SendState(held=HELD),
    ),
]


@pytest.mark.parametrize(
    ("typed", "before", "over", "decision", "after"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS]
)
def test_every_path_of_the_send_decision(typed, before, over, decision, after):
    assert decide(typed, before, OVER if over else []) == (decision, after)


def test_a_confirmation_is_spent_by_the_send_it_was_given_for():
    _, after = decide(None, SendState(pending=HELD, confirmed=True), [])
    decision, _ = decide("next question", after, OVER)
    assert decision == Hold(Action("prompt", "next question"), OVER[0])


def chat() -> tuple[Conversation, Message, Message]:
    conversation = Conversation()
    question = conversation.add_user("question")
    answer = conversation.append(Message("assistant", "answer"))
    return conversation, question, answer


def test_a_prompt_sends_its_text():
    conversation, _, answer = chat()
    assert carry_out(conversation, Action("prompt", "more"), "", "en") == Ask("more")
    assert conversation.leaf_id == answer.id


def test_regenerate_answers_again_from_the_question():
    conversation, question, _ = chat()
    assert carry_out(conversation, Action("regenerate", question.id), "", "en") == Ask(None)
    assert conversation.leaf_id == question.id


def test_an_edit_sends_the_new_text_as_a_sibling_of_the_old_question():
    conversation, question, answer = chat()
    assert carry_out(conversation, Action("edit", question.id), "  better question ", "en") == Ask("better question")
    assert conversation.leaf_id is None  # the new question starts where the old one did
    assert carry_out(conversation, Action("edit", answer.id), "", "en") is None  # an emptied edit sends nothing
    assert carry_out(conversation, Action("edit", "gone"), "text", "en") is None  # a message no longer there


def test_continue_asks_the_model_to_go_on():
    conversation, _, _ = chat()
    assert carry_out(conversation, Action("continue"), "", "zh") == Ask("请从你中断的地方继续。")
