"""Reaching a customer first (issue 17): notify one contact, WhatsApp templates, campaigns,
and what the console shows of windows and consent.

Routes: ``POST /api/v1/contacts/{id}/notify`` (agents), ``GET /api/v1/conversations/{id}/
window`` (agents), ``GET|POST /api/v1/templates`` and ``DELETE /api/v1/templates/{id}``
(reading: agents; changing: admins), ``GET|POST /api/v1/campaigns`` and
``GET /api/v1/campaigns/{id}`` (admins).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from handoff import reach
from handoff.contacts_api import unclaimed_address
from handoff.windows import Mode, window
from hub import marks
from hub.auth import require_user
from hub.core import Hub, hub_of
from hub.errors import ApiError, field, json_body, path_id
from hub.model import Author, Contact, Identity, NewMessage, Role, TemplateSend
from hub.serialize import message_json
from hub.store import Conflict, NotFound
from hub.store.base_reach import Campaign, Template

MAX_CAMPAIGN_PER_MINUTE = 6000


async def _contact(hub: Hub, contact_id: int) -> Contact:
    contact = await hub.store.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return contact


async def _template(hub: Hub, name: str, variables: dict[str, Any]) -> TemplateSend:
    for found in await hub.store.list_templates():
        if found.name == name:
            missing = [v for v in found.variables if v not in variables]
            unknown = [v for v in variables if v not in found.variables]
            if missing or unknown:
                raise ApiError(422, f"field 'variables': template {name!r} takes "
                               f"{', '.join(found.variables) or 'none'}")
            return TemplateSend(found.name, found.content_sid,
                                {k: str(v) for k, v in variables.items()})
    raise ApiError(422, f"field 'template': no template named {name!r}")


def _message_fields(body: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    text = field(body, "text", str, required=False)
    name = field(body, "template", str, required=False)
    variables = field(body, "variables", dict, required=False) or {}
    if (text is None) == (name is None):
        raise ApiError(422, "give either field 'text' or field 'template'")
    if text is not None and not text.strip():
        raise ApiError(422, "field 'text' is empty")
    return text, name, variables


async def notify(request: web.Request) -> web.Response:
    hub = hub_of(request)
    agent = await require_user(request, hub.store)
    body = await json_body(request, "Notify")
    text, name, variables = _message_fields(body)
    channel = field(body, "channel", str, required=False)
    contact = await _contact(hub, path_id(request))
    if text is not None and len(text) > hub.settings.max_message_chars:
        raise ApiError(413, f"field 'text' is longer than {hub.settings.max_message_chars} "
                       "characters")
    template = await _template(hub, name, variables) if name is not None else None
    # the address on the contact (a visitor left it): the first mail makes it an identity,
    # once the message may go — a refused notify changes nothing
    address = await unclaimed_address(hub, contact) if channel == reach.EMAIL else None
    if address is not None:
        contact = dataclasses.replace(contact, identities=(
            *contact.identities, Identity(reach.EMAIL, address)))
    last_wrote, suppressed = await reach.facts(hub.store, hub.settings, contact,
                                               proactive=True)
    route = reach.choose(contact, channel=channel, template=template is not None,
                         channels_on=set(hub.channels), last_wrote=last_wrote,
                         suppressed=suppressed, now=datetime.now(UTC),
                         human_agent_tag=hub.settings.meta_human_agent_tag, by_agent=True)
    if isinstance(route, reach.Refusal):
        raise ApiError(route.status, route.message, code=route.code)
    if address is not None:
        await hub.store.attach_identity(contact.id, reach.EMAIL, address)
    conversation_id = await hub.store.contact_thread(contact.id)
    words = text if template is None else reach.describe(template)
    turn = await hub.pipeline.commit(conversation_id, [NewMessage(
        Author.AGENT, words or "", agent_id=agent.id, channel=route.channel,
        template=template, marks=(marks.PROACTIVE,))])
    return web.json_response({"message": message_json(turn.messages[0]),
                              "conversation_id": conversation_id, "channel": route.channel,
                              "mode": route.mode.value}, status=201)


async def conversation_window(request: web.Request) -> web.Response:
    """Per channel of the conversation: may a free reply go now, and until when."""
    hub = hub_of(request)
    await require_user(request, hub.store)
    conversation = await hub.store.get_conversation(path_id(request))
    if conversation is None:
        raise NotFound("conversation not found")
    contact = await _contact(hub, conversation.contact_id)
    facts = {f.channel: f.last_open for f in await hub.store.customer_windows(conversation.id)}
    _, suppressed = await reach.facts(hub.store, hub.settings, contact)
    now = datetime.now(UTC)
    channels = []
    for name in dict.fromkeys(i.channel for i in contact.identities):
        if name not in hub.channels:
            continue
        found = window(name, facts.get(name), now, hub.settings.meta_human_agent_tag)
        mode = found.mode(by_agent=True)
        channels.append({
            "channel": name, "free_reply": mode is Mode.FREE,
            "mode": "suppressed" if name in suppressed else mode.value,
            "suppressed": suppressed.get(name),
            "last_customer_at": found.last_customer_at.isoformat()
            if found.last_customer_at else None,
            "free_until": found.free_until.isoformat() if found.free_until else None,
            "human_agent_until": found.agent_until.isoformat() if found.agent_until else None,
            "current": name == conversation.channel})
    return web.json_response({"conversation_id": conversation.id, "channels": channels})


def template_json(template: Template) -> dict[str, Any]:
    return {"id": template.id, "name": template.name, "content_sid": template.content_sid,
            "variables": list(template.variables), "created_at": template.created_at.isoformat()}


async def list_templates(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    return web.json_response({"templates": [template_json(t)
                                            for t in await hub.store.list_templates()]})


async def create_template(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    body = await json_body(request, "TemplateNew")
    name = field(body, "name", str).strip()
    sid = field(body, "content_sid", str).strip()
    variables = field(body, "variables", list, required=False) or []
    if not all(isinstance(v, str) and v.strip() for v in variables):
        raise ApiError(422, "field 'variables' must be a list of names")
    try:
        made = await hub.store.create_template(name, sid, [v.strip() for v in variables])
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response(template_json(made), status=201)


async def delete_template(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    await hub.store.delete_template(path_id(request))
    return web.json_response({"ok": True})


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "text": campaign.text,
            "template": campaign.template, "variables": dict(campaign.variables),
            "audience": dict(campaign.audience), "per_minute": campaign.per_minute,
            "status": campaign.status, "created_at": campaign.created_at.isoformat(),
            "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
            "progress": dict(campaign.counts),
            "total": sum(campaign.counts.values())}


def _matches(member: Any, audience: dict[str, Any], now: datetime) -> bool:
    attributes = audience.get("attributes") or {}
    if any(member.attributes.get(k) != v for k, v in attributes.items()):
        return False
    channel = audience.get("channel")
    if channel is not None and channel not in member.channels:
        return False
    days = audience.get("last_seen_days")
    if days is not None:
        if member.last_seen is None or (now - member.last_seen).total_seconds() > days * 86400:
            return False
    return True


async def create_campaign(request: web.Request) -> web.Response:
    hub = hub_of(request)
    admin = await require_user(request, hub.store, Role.ADMIN)
    body = await json_body(request, "CampaignNew")
    text, name, variables = _message_fields(body)
    if name is not None:
        await _template(hub, name, variables)
    audience = field(body, "audience", dict, required=False) or {}
    channel = audience.get("channel")
    if channel is not None and channel not in hub.channels:
        raise ApiError(422, f"field 'audience.channel': {channel} is not set up on this hub")
    per_minute = field(body, "per_minute", int, required=False) or 60
    title = (field(body, "name", str, required=False) or (text or name or ""))[:100]
    now = datetime.now(UTC)
    members = [m.contact_id for m in await hub.store.audience()
               if _matches(m, audience, now)]
    campaign = await hub.store.create_campaign(title, text, name, variables, audience,
                                               per_minute, admin.id, members)
    hub.campaigns.wake()
    return web.json_response(campaign_json(campaign), status=201)


async def list_campaigns(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    return web.json_response({"campaigns": [campaign_json(c)
                                            for c in await hub.store.list_campaigns()]})


async def get_campaign(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    campaign = await hub.store.get_campaign(path_id(request))
    if campaign is None:
        raise NotFound("campaign not found")
    recipients = await hub.store.campaign_recipients(campaign.id)
    return web.json_response({**campaign_json(campaign), "recipients": [
        {"contact_id": r.contact_id, "status": r.status, "channel": r.channel,
         "error": r.error, "message_id": r.message_id} for r in recipients]})


def outreach_routes() -> list[web.AbstractRouteDef]:
    return [
        web.post("/api/v1/contacts/{id}/notify", notify),
        web.get("/api/v1/conversations/{id}/window", conversation_window),
        web.get("/api/v1/templates", list_templates),
        web.post("/api/v1/templates", create_template),
        web.delete("/api/v1/templates/{id}", delete_template),
        web.get("/api/v1/campaigns", list_campaigns),
        web.post("/api/v1/campaigns", create_campaign),
        web.get("/api/v1/campaigns/{id}", get_campaign),
    ]
