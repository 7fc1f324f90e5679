"""Reading platform updates into the hub's terms.

The Telegram webhook reads a plain private text message without building PTB's objects: the
result must be exactly what the SDK path gives, and anything else must go the SDK's way.
Buttons come back from the client, which may send anything: a forged one is no choice."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from telegram import Bot, Update

from bots.telegram_inbound import BotIdentity, read_plain_text, read_update

ME = BotIdentity(id=42, username="shop_bot")


def plain(**message: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "message_id": 7, "date": 1_700_000_000, "text": "  where is my order?  ",
        "from": {"id": 77, "is_bot": False, "first_name": "Ann", "last_name": "Lee",
                 "username": "annlee", "language_code": "en"},
        "chat": {"id": 77, "type": "private", "first_name": "Ann"}}
    base.update(message)
    return {"update_id": 1001, "message": base}


def sdk_read(data: dict[str, Any]) -> object:
    return read_update(Update.de_json(copy.deepcopy(data), Bot("1:x")), ME)


@pytest.mark.parametrize("data", [
    plain(),
    plain(**{"from": {"id": 5, "is_bot": False, "first_name": "Bo"}}, chat={"id": 5,
          "type": "private"}),
    plain(text="ünïcödé 😀 question"),
])
def test_a_plain_private_text_reads_as_the_sdk_reads_it(data: dict[str, Any]) -> None:
    fast = read_plain_text(data)
    assert fast is not None
    assert fast == sdk_read(data)


@pytest.mark.parametrize("data", [
    plain(text="/start"),  # the welcome mark
    plain(text="/start CODE123"),  # a continuation code
    plain(text="   "),  # nothing to say
    plain(chat={"id": -100, "type": "group", "title": "Team"}),  # groups: mentions only
    plain(**{"from": {"id": 9, "is_bot": True, "first_name": "Other bot"}}),
    plain(entities=[{"type": "bold", "offset": 0, "length": 5}]),
    plain(photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]),
    plain(edit_date=1_700_000_100),
    {"update_id": 1, "edited_message": plain()["message"]},
    {"update_id": 1, "message": plain()["message"], "callback_query": None},
])
def test_anything_else_is_left_to_the_sdk(data: dict[str, Any]) -> None:
    assert read_plain_text(data) is None


@pytest.mark.parametrize("broken", [
    {"update_id": "1", "message": plain()["message"]},
    plain(chat={"id": "77", "type": "private"}),
    plain(message_id="7"),
    plain(text=5),
    plain(**{"from": {"id": 77, "is_bot": "no", "first_name": "Ann"}}),
    plain(**{"from": {"id": 77, "is_bot": False, "first_name": None}}),
])
def test_a_malformed_update_is_never_read_by_the_fast_path(broken: dict[str, Any]) -> None:
    assert read_plain_text(broken) is None


@pytest.mark.parametrize("data", ["kb:²", "kb:１２", "kb:" + "9" * 30, "kb:-1", "kb:"])
def test_a_forged_button_is_no_choice(data: str) -> None:
    """Callback data comes back from the client, which may send anything."""
    update = {"update_id": 5, "callback_query": {
        "id": "77", "chat_instance": "1", "data": data,
        "from": {"id": 77, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 9, "date": 1_700_000_000, "text": "Did you mean…",
                    "chat": {"id": 77, "type": "private"}}}}
    assert sdk_read(update) is None
    assert sdk_read({**update, "callback_query": {**update["callback_query"],
                                                   "data": "kb:12"}}) is not None


@pytest.mark.parametrize("payload", ["²", "１２", "9" * 30, "-1", ""])
def test_a_forged_meta_payload_is_no_choice(payload: str) -> None:
    from bots.meta_inbound import PAYLOAD_PREFIX, article_of

    assert article_of(PAYLOAD_PREFIX + payload) is None
    assert article_of(PAYLOAD_PREFIX + "12") == 12
