"""Contacts, continuity across channels, merges and agent administration (issue 7).

Routes: web-chat link codes (visitor token), contacts (read, edit, merge, undo), private
notes, canned responses; agent administration lives in :mod:`handoff.agents_admin`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from handoff import linking
from handoff.agents_admin import agents_routes
from handoff.reach import consent_applies
from handoff.reach import sender as linking_sender
from hub import openapi
from hub.auth import require_user
from hub.core import Hub, hub_of
from hub.errors import ApiError, field, json_body, path_id
from hub.model import (
    Author,
    Contact,
    Conversation,
    ConversationState,
    Message,
    NewMessage,
    Role,
    User,
    id_in_text,
)
from hub.serialize import contact_json, message_json
from hub.store import Conflict, NotFound

NOT_REPLY_CHANNELS = frozenset({linking.SITE_USER_CHANNEL})
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_AGENT_FILTER = re.compile(openapi.AGENT_FILTER)  # the OpenAPI document's own pattern






EMAIL = "email"


async def _contact(hub: Hub, contact_id: int) -> Contact:
    contact = await hub.store.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return contact


async def reachable_channels(hub: Hub, contact: Contact) -> list[str]:
    """The channels a reply to this contact can go out on, in the order they were added."""
    found: list[str] = []
    for identity in contact.identities:
        if identity.channel in found or identity.channel in NOT_REPLY_CHANNELS \
                or identity.channel not in hub.channels:
            continue
        status = await hub.store.identity_status(identity.channel, identity.external_id)
        consent = await hub.store.consent(identity.channel, identity.external_id,
                                          linking_sender(identity.channel, hub.settings))
        if status is not None and status.reachable and not status.opted_out and (
                consent is None or consent.allowed
                or not consent_applies(identity.channel, proactive=False)):
            found.append(identity.channel)
    if EMAIL not in found and await unclaimed_address(hub, contact) is not None:
        found.append(EMAIL)  # the contact's address, known, and nobody else's
    return found


async def unclaimed_address(hub: Hub, contact: Contact) -> str | None:
    """The contact's email field when email is on, the contact has no email identity, and
    no other contact has that address: an agent may write to it."""
    if EMAIL not in hub.channels or not contact.email or "@" not in contact.email:
        return None
    if any(i.channel == EMAIL for i in contact.identities):
        return None
    address = contact.email.strip().lower()
    if await hub.store.identity_status(EMAIL, address) is not None:
        return None  # another contact's address: merge them first
    return address


async def check_reply_channel(hub: Hub, conversation_id: int, channel: str) -> None:
    """409 unless ``channel`` is one of the conversation's contact's reachable channels."""
    conversation = await hub.store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    contact = await _contact(hub, conversation.contact_id)
    reachable = await reachable_channels(hub, contact)
    if channel not in reachable:
        raise ApiError(409, f"field 'channel': the contact cannot be reached on {channel!r}"
                       f" (reachable: {', '.join(reachable) or 'none'})")
    address = await unclaimed_address(hub, contact) if channel == EMAIL else None
    if address is not None:  # the first mail to a known address: it becomes an identity
        await hub.store.attach_identity(contact.id, EMAIL, address)


async def add_note(hub: Hub, conversation_id: int, agent: User, text: str) -> Message:
    """A private note: in the thread for agents, never sent to the customer."""
    if await hub.store.get_conversation(conversation_id) is None:
        raise NotFound(f"conversation {conversation_id} not found")
    turn = await hub.pipeline.commit(
        conversation_id, [NewMessage(Author.AGENT, text, agent_id=agent.id, private=True)])
    return turn.messages[0]


async def filter_conversations(hub: Hub, query: Mapping[str, str],
                               state: ConversationState | None) -> list[Conversation]:
    """``GET /api/v1/conversations`` filters: ``state``, ``channel``, ``agent`` (an id, or
    ``none`` for unassigned) and ``q`` (message text, or the contact's name, email, phone
    or an identity)."""
    agent = query.get("agent")
    if agent is not None and not _AGENT_FILTER.search(agent):
        raise ApiError(422, "query parameter 'agent' must be an agent id or 'none'")
    agent_id = int(agent) if agent is not None and agent.strip() != "none" else None
    found = await hub.store.list_conversations(state, agent_id)
    if agent is not None and agent.strip() == "none":
        found = [c for c in found if c.assigned_agent_id is None]
    channel = query.get("channel", "").strip()
    if channel:
        found = [c for c in found if c.channel == channel]
    text = query.get("q", "").strip()
    if text:
        matching = set(await hub.store.search_conversation_ids(text, limit=1000))
        found = [c for c in found if c.id in matching]
    return found


def fill_placeholders(text: str, contact: Contact | None) -> str:
    """``{{first_name}}``, ``{{name}}``, ``{{email}}``…: the contact's, or empty."""
    name = (contact.name or "") if contact else ""
    values = {"name": name, "first_name": name.split(" ")[0] if name else "",
              "email": (contact.email or "") if contact else "",
              "phone": (contact.phone or "") if contact else ""}
    if contact is not None:
        values.update({k: str(v) for k, v in contact.attributes.items()
                       if isinstance(v, str | int | float)})
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


def _text(body: dict[str, Any], name: str = "text", max_chars: int = 4000) -> str:
    text = field(body, name, str).strip()
    if not text:
        raise ApiError(422, f"field '{name}' is empty")
    if len(text) > max_chars:
        raise ApiError(413, f"field '{name}' is longer than {max_chars} characters")
    return text


# web chat: continue elsewhere -------------------------------------------------------
async def create_link(request: web.Request) -> web.Response:
    hub = hub_of(request)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    visitor_id = hub.visitor_tokens.verify(token)
    if visitor_id is None:
        raise ApiError(401, "a valid visitor token is required (Authorization: Bearer …)")
    channel = field(await json_body(request, "LinkRequest"), "channel", str)
    if channel not in linking.LINK_CHANNELS:
        raise ApiError(422, "field 'channel' must be one of " + ", ".join(linking.LINK_CHANNELS))
    if channel not in hub.channels:
        raise ApiError(409, f"field 'channel': {channel} is not set up on this hub")
    conversation = await hub.store.find_conversation("webchat", visitor_id) \
        or await hub.store.start_conversation("webchat", visitor_id)
    username = getattr(hub.channels.get("telegram"), "username", None)
    offer = await linking.offer(hub.store, hub.settings, conversation.contact_id, channel,
                                username)
    return web.json_response({"code": offer.code, "expires_at": offer.expires_at.isoformat(),
                              "instructions": offer.instructions, "url": offer.url,
                              "channel": channel}, status=201)


# contacts -----------------------------------------------------------------------------
async def contact_detail(hub: Hub, contact: Contact) -> dict[str, Any]:
    conversations: list[Conversation] = []
    for conversation_id in contact.conversation_ids:
        found = await hub.store.get_conversation(conversation_id)
        if found is not None:
            conversations.append(found)
    return {**contact_json(contact),
            "reachable_channels": await reachable_channels(hub, contact),
            "consents": [{"channel": k.channel, "external_id": k.external_id,
                          "sender": k.sender, "allowed": k.allowed, "reason": k.reason,
                          "updated_at": k.updated_at.isoformat()}
                         for k in await hub.store.contact_consents(contact.id)],
            "conversation_summaries": [
                {"id": c.id, "state": c.state.value, "channel": c.channel,
                 "updated_at": c.updated_at.isoformat(), "last_message": c.last_message_text}
                for c in sorted(conversations, key=lambda c: c.id, reverse=True)]}


async def patch_contact(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    contact_id = path_id(request)
    body = await json_body(request, "ContactPatch")
    await _contact(hub, contact_id)
    strings = {}
    for name in ("name", "email", "phone"):
        value = field(body, name, str, required=False)
        if value is not None:
            if len(value) > 200:
                raise ApiError(422, f"field '{name}' is longer than 200 characters")
            strings[name] = value.strip()
    attributes = field(body, "attributes", dict, required=False)
    if attributes is not None and not all(
            isinstance(v, str | int | float | bool) or v is None for v in attributes.values()):
        raise ApiError(422, "field 'attributes' must map names to plain values")
    contact = await hub.store.update_contact(contact_id, attributes=attributes, **strings)
    return web.json_response(await contact_detail(hub, contact))


async def merge(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    other_id = field(await json_body(request, "MergeRequest"), "other_id", int)
    survivor_id = path_id(request)
    await _contact(hub, survivor_id)
    await _contact(hub, other_id)
    if other_id == survivor_id:
        raise ApiError(409, "field 'other_id': a contact cannot be merged with itself")
    merged = await hub.store.merge_contacts(survivor_id, other_id)
    return web.json_response({**await contact_detail(hub, merged.contact),
                              "merge_id": merged.merge_id})


async def undo_merge(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    survivor, other = await hub.store.undo_merge(path_id(request, "merge_id"))
    return web.json_response({"contacts": [contact_json(survivor), contact_json(other)]})


# notes and canned responses -------------------------------------------------------------
async def post_note(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    text = _text(await json_body(request, "Note"), max_chars=hub.settings.max_message_chars)
    message = await add_note(hub, path_id(request), agent, text)
    return web.json_response({"message": message_json(message)}, status=201)


async def list_canned(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    contact = None
    raw = request.query.get("conversation_id")
    if raw:
        conversation_id = id_in_text(raw)
        conversation = await hub.store.get_conversation(conversation_id) \
            if conversation_id is not None else None
        if conversation is None:
            raise NotFound(f"conversation {raw} not found")
        contact = await hub.store.get_contact(conversation.contact_id)
    return web.json_response({"canned": [
        {"id": c.id, "shortcut": c.shortcut, "text": c.text,
         "rendered": fill_placeholders(c.text, contact)}
        for c in await hub.store.list_canned()]})


async def save_canned(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    body = await json_body(request, "Canned")
    shortcut = _text(body, "shortcut", 60)
    text = _text(body, max_chars=hub.settings.max_message_chars)
    canned_id = path_id(request) if "id" in request.match_info else None
    try:
        saved = await hub.store.save_canned(shortcut, text, canned_id)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response({"id": saved.id, "shortcut": saved.shortcut, "text": saved.text},
                             status=200 if canned_id else 201)


async def delete_canned(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    await hub.store.delete_canned(path_id(request))
    return web.json_response({"ok": True})


def contacts_routes() -> list[web.AbstractRouteDef]:
    return [
        web.post("/api/v1/webchat/links", create_link),
        web.patch("/api/v1/contacts/{id}", patch_contact),
        web.post("/api/v1/contacts/{id}/merge", merge),
        web.post("/api/v1/contacts/merges/{merge_id}/undo", undo_merge),
        web.post("/api/v1/conversations/{id}/notes", post_note),
        web.get("/api/v1/canned", list_canned),
        web.post("/api/v1/canned", save_canned),
        web.patch("/api/v1/canned/{id}", save_canned),
        web.delete("/api/v1/canned/{id}", delete_canned),
        *agents_routes(),
    ]
