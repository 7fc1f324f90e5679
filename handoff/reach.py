"""Reaching a customer first: which of a contact's channels may carry a message now.

A channel may carry it when the hub is on it, the contact has an identity there, nobody
asked us to stop writing there (the consent record of that identity and our sender: SMS
STOP, Twilio 21610, WhatsApp 63014, a Meta user that cannot be reached), and its messaging
window allows it (``handoff/windows.py``): free text inside the window; after it, on
WhatsApp, only a template; on Messenger and Instagram only a person's reply within 7 days
when the HUMAN_AGENT tag is allowed.

Without a chosen channel the contact's ``preferred_channel`` attribute is tried first, then
the channels they wrote from, most recent first. No I/O here: the caller reads the facts.

An email unsubscribe (the ``List-Unsubscribe`` link or mailto of mail we write first) stops
the mail we write first — notify, campaigns — and not the answers to the customer's own
mail: it is what the link's mail was. Every other channel's opt-out stops everything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from handoff.windows import META_CHANNELS, Mode, window
from hub.config import Settings
from hub.model import Contact, TemplateSend
from hub.store import Store

PREFERRED_ATTRIBUTE = "preferred_channel"
TEMPLATE_CHANNELS = frozenset({"whatsapp"})
EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Route:
    channel: str
    recipient: str  # the contact's external id there
    mode: Mode  # FREE, HUMAN_AGENT (Meta tag) or TEMPLATE


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 422: the request cannot be right; 409: not now, not for this contact
    code: str
    message: str


def sender(channel: str, settings: Settings) -> str:
    """Who writes on ``channel``: consent is recorded per contact, channel and sender (a
    STOP to one of our numbers does not silence another)."""
    if channel in ("sms", "whatsapp"):
        return settings.twilio_from.removeprefix("whatsapp:")
    if channel == "messenger":
        return settings.messenger_page or "page"
    if channel == EMAIL:
        return settings.email_address.strip().lower()
    return ""


def consent_applies(channel: str, *, proactive: bool) -> bool:
    """Does an opt-out on ``channel`` stop this message? Always, except an email
    unsubscribe, which stops only the mail we write first (``proactive``)."""
    return proactive or channel != EMAIL


def choose(
    contact: Contact, *, channel: str | None, template: bool, channels_on: Collection[str],
    last_wrote: Mapping[str, datetime], suppressed: Mapping[str, str], now: datetime,
    human_agent_tag: bool, by_agent: bool,
) -> Route | Refusal:
    """The route for a message to ``contact``, or why there is none.

    ``suppressed``: channel → why we may not write there (for this contact's identity and
    our sender); ``last_wrote``: channel → when the customer last wrote there.
    """
    if channel is not None:
        if channel not in channels_on:
            return Refusal(422, "invalid", f"field 'channel': {channel} is not set up on this hub")
        return _check(contact, channel, template, last_wrote, suppressed, now,
                      human_agent_tag, by_agent)
    preferred = contact.attributes.get(PREFERRED_ATTRIBUTE)
    order = [str(preferred)] if isinstance(preferred, str) and preferred else []
    order += sorted(last_wrote, key=lambda c: last_wrote[c], reverse=True)
    order += [i.channel for i in reversed(contact.identities)]
    refusals: list[Refusal] = []
    seen: set[str] = set()
    for candidate in order:
        if candidate in seen or candidate not in channels_on:
            continue
        seen.add(candidate)
        found = _check(contact, candidate, template, last_wrote, suppressed, now,
                       human_agent_tag, by_agent)
        if isinstance(found, Route):
            return found
        refusals.append(found)
    if not refusals:
        return Refusal(409, "unreachable", "the contact has no channel this hub is on")
    codes = {r.code for r in refusals}
    return Refusal(409, codes.pop() if len(codes) == 1 else "unreachable",
                   "no channel may carry this message: "
                   + "; ".join(r.message for r in refusals))


def _check(contact: Contact, channel: str, template: bool, last_wrote: Mapping[str, datetime],
           suppressed: Mapping[str, str], now: datetime, human_agent_tag: bool,
           by_agent: bool) -> Route | Refusal:
    if template and channel not in TEMPLATE_CHANNELS:
        return Refusal(422, "invalid", f"field 'template': templates are sent on "
                       f"{', '.join(sorted(TEMPLATE_CHANNELS))}, not {channel}")
    ids = [i.external_id for i in contact.identities if i.channel == channel]
    if not ids:
        return Refusal(409, "unreachable", f"{channel}: the contact has no identity there")
    if channel in suppressed:
        return Refusal(409, "suppressed", f"{channel}: {suppressed[channel]}")
    mode = window(channel, last_wrote.get(channel), now, human_agent_tag).mode(by_agent)
    if template:
        return Route(channel, ids[-1], Mode.TEMPLATE)
    if mode in (Mode.FREE, Mode.HUMAN_AGENT):
        return Route(channel, ids[-1], mode)
    if mode is Mode.TEMPLATE:
        return Refusal(409, "template_needed", f"{channel}: the 24-hour window is closed; "
                       "send a template")
    if by_agent and not human_agent_tag and channel in META_CHANNELS:
        why = ("a person's reply may go tagged HUMAN_AGENT within 7 days once the app is "
               "approved for it (SUPPORTHUB_META_HUMAN_AGENT_TAG)")
    else:
        why = "the customer must write first"
    return Refusal(409, "window_closed",
                   f"{channel}: outside the 24-hour messaging window; {why}")


async def facts(store: Store, settings: Settings, contact: Contact, *,
                proactive: bool = False) -> tuple[dict[str, datetime], dict[str, str]]:
    """What ``choose`` needs to know about ``contact``: when they last wrote on each channel
    (with the window still open by the platform's account), and why we may not write on
    some (consent records of their identities for our sender on each; for a message we
    write first, ``proactive``, an email unsubscribe too)."""
    last_wrote: dict[str, datetime] = {}
    for conversation_id in contact.conversation_ids:
        for found in await store.customer_windows(conversation_id):
            at = found.last_open
            if at is not None and (found.channel not in last_wrote
                                   or at > last_wrote[found.channel]):
                last_wrote[found.channel] = at
    suppressed: dict[str, str] = {}
    # on each channel a message goes to the contact's newest identity there (the outbox's
    # recipient): its consent decides, not that of an older address or number
    recipients = {identity.channel: identity for identity in contact.identities}
    for identity in recipients.values():
        record = await store.consent(identity.channel, identity.external_id,
                                     sender(identity.channel, settings))
        if record is not None and not record.allowed and consent_applies(
                identity.channel, proactive=proactive):
            suppressed.setdefault(identity.channel, record.reason)
    return last_wrote, suppressed


def describe(template: TemplateSend) -> str:
    """How a template message reads in the thread (the platform renders the real text)."""
    values = ", ".join(f"{k}={v}" for k, v in template.variables.items())
    return f"[template: {template.name}]" + (f" {values}" if values else "")
