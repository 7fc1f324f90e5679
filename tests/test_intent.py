"""Recognising a request for a person: the usual wordings, and the negations that are not."""

from __future__ import annotations

import re

import pytest

from handoff.intent import wants_human

# the single pattern the two searches replaced (quadratic on a long run of negations)
OLD_NOT_A_REQUEST = re.compile(r"\b(?:not|no|don't|dont)\b.*\b(?:human|agent|person)\b")


@pytest.mark.parametrize("text", [
    "agent", "a human please", "I want to talk to a human", "connect me to a representative",
    "can I speak with someone from customer service", "live agent now",
])
def test_requests_for_a_person(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize("text", [
    "I don't want a human", "no agent please", "not a person, just tell me", "no, talk to a human",
    "dont need an agent", "no no no no no human", "where is my order", "", "   ",
])
def test_what_is_not_a_request(text: str) -> None:
    assert not wants_human(text)


@pytest.mark.parametrize("tail", [
    "", "no", "not now", "no human", "human no", "dont", "know", "nothing agent",
    "no-one person", "not really a person", "don't", "no no no", "agent not",
])
def test_a_negation_before_a_word_for_a_person_cancels_the_request(tail: str) -> None:
    """As the single pattern the two searches replaced decided it."""
    text = f"talk to a human {tail}".strip()
    words = " ".join(re.sub(r"[^a-z' ]+", " ", text).split())
    assert wants_human(text) == (OLD_NOT_A_REQUEST.search(words) is None)


def test_a_long_message_of_negations_is_no_request() -> None:
    assert not wants_human("no " * 1300 + "human")
    assert not wants_human("not" + " x" * 1900 + " agent")
