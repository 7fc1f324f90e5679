"""Which channel may carry a message a business sends first (handoff/reach.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handoff.reach import Refusal, Route, choose
from handoff.windows import Mode
from hub.model import Contact, Identity

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def contact(*identities: tuple[str, str], **attributes: str) -> Contact:
    return Contact(1, "Jane", tuple(Identity(c, e) for c, e in identities), attributes, (), NOW)


JANE = contact(("sms", "+15551230001"), ("whatsapp", "+15551230001"), ("telegram", "42"))
ON = ("sms", "whatsapp", "telegram", "webchat")


def test_an_opt_out_on_sms_leaves_telegram_open() -> None:
    wrote = {"sms": NOW - timedelta(hours=1), "telegram": NOW - timedelta(days=3)}
    stopped = {"sms": "opted out (STOP)"}
    refused = choose(JANE, channel="sms", template=False, channels_on=ON, last_wrote=wrote,
                     suppressed=stopped, now=NOW, human_agent_tag=False, by_agent=True)
    assert isinstance(refused, Refusal) and refused.status == 409
    assert "opted out" in refused.message
    route = choose(JANE, channel=None, template=False, channels_on=ON, last_wrote=wrote,
                   suppressed=stopped, now=NOW, human_agent_tag=False, by_agent=True)
    assert route == Route("telegram", "42", Mode.FREE)


def test_the_preferred_channel_comes_first_and_whatsapp_needs_a_template_late() -> None:
    jane = contact(*((i.channel, i.external_id) for i in JANE.identities),
                   preferred_channel="whatsapp")
    wrote = {"whatsapp": NOW - timedelta(hours=30), "telegram": NOW - timedelta(hours=1)}
    text = choose(jane, channel="whatsapp", template=False, channels_on=ON, last_wrote=wrote,
                  suppressed={}, now=NOW, human_agent_tag=False, by_agent=True)
    assert isinstance(text, Refusal) and text.code == "template_needed"
    template = choose(jane, channel=None, template=True, channels_on=ON, last_wrote=wrote,
                      suppressed={}, now=NOW, human_agent_tag=False, by_agent=True)
    assert template == Route("whatsapp", "+15551230001", Mode.TEMPLATE)
    fallback = choose(jane, channel=None, template=False, channels_on=ON, last_wrote=wrote,
                      suppressed={}, now=NOW, human_agent_tag=False, by_agent=True)
    assert fallback == Route("telegram", "42", Mode.FREE)


def test_refusals_say_why() -> None:
    none = choose(JANE, channel="messenger", template=False, channels_on=ON, last_wrote={},
                  suppressed={}, now=NOW, human_agent_tag=False, by_agent=True)
    assert isinstance(none, Refusal) and none.status == 422
    wrong = choose(JANE, channel="telegram", template=True, channels_on=ON, last_wrote={},
                   suppressed={}, now=NOW, human_agent_tag=False, by_agent=True)
    assert isinstance(wrong, Refusal) and wrong.status == 422
    meta = contact(("messenger", "PSID-1"))
    late = choose(meta, channel=None, template=False, channels_on=("messenger",),
                  last_wrote={"messenger": NOW - timedelta(days=2)}, suppressed={}, now=NOW,
                  human_agent_tag=True, by_agent=False)
    assert isinstance(late, Refusal) and late.status == 409 and "window" in late.message
    tagged = choose(meta, channel=None, template=False, channels_on=("messenger",),
                    last_wrote={"messenger": NOW - timedelta(days=2)}, suppressed={}, now=NOW,
                    human_agent_tag=True, by_agent=True)
    assert tagged == Route("messenger", "PSID-1", Mode.HUMAN_AGENT)
