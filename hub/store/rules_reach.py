"""Rules, once for both engines (see sql.py): messaging windows, consent and suppression,
WhatsApp templates, campaigns (the interface: base_reach.py).

A campaign recipient is settled by one statement that only a pending row passes
(``SETTLE``): the message it writes is in the same transaction, so a process killed at any
point either wrote both or neither, and a resumed campaign skips who was done."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hub.model import NewMessage
from hub.store.base import Conflict, NotFound
from hub.store.base_reach import (
    AudienceMember,
    Campaign,
    CampaignRecipient,
    Consent,
    Delivered,
    Template,
    WindowFacts,
)
from hub.store.rows import as_datetime, dump_suggestions, message_from_row
from hub.store.rules_contacts import NEW_CONVERSATION, thread_id
from hub.store.rules_conversations import INSERT_OUTBOX, INSERT_REPLY, RECIPIENT, reply_extras
from hub.store.sql import (
    Rule,
    Sql,
    UniqueViolation,
    count,
    one,
    reads,
    rows,
    snapshot,
    writes,
    writes_one,
)

CUSTOMER_WINDOWS = Sql(
    "SELECT m.channel, MAX(m.created_at) AS last_at, MAX(w.closed_at) AS closed_at"
    " FROM messages m LEFT JOIN windows_closed w ON w.conversation_id = m.conversation_id"
    " AND w.channel = m.channel WHERE m.conversation_id = $1 AND m.direction = 'in'"
    " GROUP BY m.channel")
CLOSE_WINDOW = Sql(
    "INSERT INTO windows_closed (conversation_id, channel, closed_at) VALUES ($1, $2, {now})"
    " ON CONFLICT (conversation_id, channel) DO UPDATE SET closed_at = excluded.closed_at")
CONSENT = Sql("SELECT * FROM consents WHERE channel = $1 AND external_id = $2 AND sender = $3")
SET_CONSENT = Sql(
    "INSERT INTO consents (channel, external_id, sender, allowed, reason, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, {now}) ON CONFLICT (channel, external_id, sender)"
    " DO UPDATE SET allowed = excluded.allowed, reason = excluded.reason,"
    " updated_at = excluded.updated_at")
CONTACT_CONSENTS = Sql(
    "SELECT k.* FROM consents k JOIN identities i ON i.channel = k.channel"
    " AND i.external_id = k.external_id WHERE i.contact_id = $1 ORDER BY k.id")
TEMPLATES = Sql("SELECT * FROM templates ORDER BY name")
NEW_TEMPLATE = Sql("INSERT INTO templates (name, content_sid, variables, created_at)"
                   " VALUES ($1, $2, $3, {now}) RETURNING *")
DROP_TEMPLATE = Sql("DELETE FROM templates WHERE id = $1")
CONTACT_EXISTS = Sql("SELECT id FROM contacts WHERE id = $1 AND merged_into IS NULL")
FIRST_CHANNEL = Sql("SELECT channel FROM identities WHERE contact_id = $1 ORDER BY id LIMIT 1")
AUDIENCE = Sql(
    "SELECT c.id, c.attributes, (SELECT MAX(m.created_at) FROM conversations v"
    " JOIN messages m ON m.conversation_id = v.id WHERE v.contact_id = c.id"
    " AND m.direction = 'in') AS last_seen FROM contacts c WHERE c.merged_into IS NULL"
    " ORDER BY c.id")
ALL_IDENTITIES = Sql("SELECT contact_id, channel FROM identities ORDER BY id")
NEW_CAMPAIGN = Sql(
    "INSERT INTO campaigns (name, text, template, variables, audience, per_minute, status,"
    " created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, {now})"
    " RETURNING id")
NEW_RECIPIENT = Sql("INSERT INTO campaign_recipients (campaign_id, contact_id, status,"
                    " updated_at) VALUES ($1, $2, 'pending', {now})")
CAMPAIGN = Sql("SELECT * FROM campaigns WHERE id = $1")
CAMPAIGNS = Sql("SELECT * FROM campaigns ORDER BY id DESC LIMIT 200")
NEXT_SEND = Sql("SELECT next_send_at FROM campaigns WHERE id = $1 AND status = 'running'")
# compare-and-set: only the process that read the current value moves it on
CLAIM_SENDS = Sql("UPDATE campaigns SET next_send_at = $1 WHERE id = $2 AND status = 'running'"
                  " AND COALESCE(next_send_at, -1.0) = $3")
CAMPAIGN_COUNTS = Sql("SELECT status, COUNT(*) AS n FROM campaign_recipients"
                      " WHERE campaign_id = $1 GROUP BY status")
RECIPIENTS = Sql("SELECT * FROM campaign_recipients WHERE campaign_id = $1"
                 " AND ($2 OR status = 'pending') ORDER BY contact_id LIMIT $3")
# only a pending recipient passes: whoever settles it first wins, once
SETTLE = Sql("UPDATE campaign_recipients SET status = $1, channel = $2, error = $3,"
             " updated_at = {now} WHERE campaign_id = $4 AND contact_id = $5"
             " AND status = 'pending'")
SET_RECIPIENT_MESSAGE = Sql("UPDATE campaign_recipients SET message_id = $1"
                            " WHERE campaign_id = $2 AND contact_id = $3")
TOUCH_THREAD = Sql("UPDATE conversations SET updated_at = {now}, last_message_text = $1"
                   " WHERE id = $2 RETURNING contact_id")
ANY_PENDING = Sql("SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = $1"
                  " AND status = 'pending') AS found")
FINISH = Sql("UPDATE campaigns SET status = 'done', finished_at = {now}"
             " WHERE id = $1 AND status = 'running'")


def _consent(row: Any) -> Consent:
    return Consent(row["channel"], row["external_id"], row["sender"], bool(row["allowed"]),
                   row["reason"], as_datetime(row["updated_at"]))


def _template(row: Any) -> Template:
    return Template(int(row["id"]), row["name"], row["content_sid"],
                    tuple(json.loads(row["variables"])), as_datetime(row["created_at"]))


def _campaign(row: Any, counts: Mapping[str, int]) -> Campaign:
    return Campaign(
        int(row["id"]), row["name"], row["text"], row["template"],
        json.loads(row["variables"] or "{}"), json.loads(row["audience"] or "{}"),
        int(row["per_minute"]), row["status"], as_datetime(row["created_at"]),
        None if row["finished_at"] is None else as_datetime(row["finished_at"]),
        {"pending": 0, "sent": 0, "skipped": 0, **counts})


def _campaign_by_id(campaign_id: int) -> Rule[Campaign | None]:
    row = yield one(CAMPAIGN, campaign_id)
    if row is None:
        return None
    counts = {r["status"]: int(r["n"]) for r in (yield rows(CAMPAIGN_COUNTS, campaign_id))}
    return _campaign(row, counts)


def _thread(contact_id: int) -> Rule[int]:
    found = yield from thread_id(contact_id)
    if found is not None:
        return found
    exists = yield one(CONTACT_EXISTS, contact_id)
    if exists is None:
        raise NotFound(f"contact {contact_id} not found")
    first = yield one(FIRST_CHANNEL, contact_id)
    channel = first["channel"] if first is not None else "webchat"
    return int((yield one(NEW_CONVERSATION, contact_id, channel))["id"])


class ReachRules:
    @reads
    def customer_windows(self, conversation_id: int) -> Rule[list[WindowFacts]]:
        found = yield rows(CUSTOMER_WINDOWS, conversation_id)
        return [WindowFacts(r["channel"], as_datetime(r["last_at"]),
                            None if r["closed_at"] is None else as_datetime(r["closed_at"]))
                for r in found]

    @writes_one
    def close_window(self, conversation_id: int, channel: str) -> Rule[None]:
        yield count(CLOSE_WINDOW, conversation_id, channel)

    @reads
    def consent(self, channel: str, external_id: str, sender: str) -> Rule[Consent | None]:
        row = yield one(CONSENT, channel, external_id, sender)
        return None if row is None else _consent(row)

    @writes_one
    def set_consent(self, channel: str, external_id: str, sender: str, *, allowed: bool,
                    reason: str) -> Rule[None]:
        yield count(SET_CONSENT, channel, external_id, sender, allowed, reason)

    @reads
    def contact_consents(self, contact_id: int) -> Rule[list[Consent]]:
        return [_consent(r) for r in (yield rows(CONTACT_CONSENTS, contact_id))]

    @reads
    def list_templates(self) -> Rule[list[Template]]:
        return [_template(r) for r in (yield rows(TEMPLATES))]

    @writes
    def create_template(self, name: str, content_sid: str,
                        variables: Sequence[str]) -> Rule[Template]:
        try:
            row = yield one(NEW_TEMPLATE, name, content_sid, json.dumps(list(variables)))
        except UniqueViolation:
            raise Conflict(f"a template named {name!r} exists") from None
        return _template(row)

    @writes_one
    def delete_template(self, template_id: int) -> Rule[None]:
        if (yield count(DROP_TEMPLATE, template_id)) == 0:
            raise NotFound(f"template {template_id} not found")

    @writes
    def contact_thread(self, contact_id: int) -> Rule[int]:
        return (yield from _thread(contact_id))

    @snapshot
    def audience(self) -> Rule[list[AudienceMember]]:
        contacts = yield rows(AUDIENCE)
        channels: dict[int, list[str]] = {}
        for row in (yield rows(ALL_IDENTITIES)):
            channels.setdefault(int(row["contact_id"]), []).append(row["channel"])
        return [AudienceMember(int(r["id"]), json.loads(r["attributes"]),
                               tuple(channels.get(int(r["id"]), ())),
                               None if r["last_seen"] is None else as_datetime(r["last_seen"]))
                for r in contacts]

    @writes
    def create_campaign(self, name: str, text: str | None, template: str | None,
                        variables: Mapping[str, str], audience: Mapping[str, Any],
                        per_minute: int, created_by: int | None,
                        contact_ids: Sequence[int]) -> Rule[Campaign]:
        row = yield one(NEW_CAMPAIGN, name, text, template, json.dumps(dict(variables)),
                        json.dumps(dict(audience)), per_minute, created_by)
        campaign_id = int(row["id"])
        for contact_id in contact_ids:
            yield count(NEW_RECIPIENT, campaign_id, contact_id)
        if not contact_ids:
            yield count(FINISH, campaign_id)
        made = yield from _campaign_by_id(campaign_id)
        assert made is not None
        return made

    @snapshot
    def get_campaign(self, campaign_id: int) -> Rule[Campaign | None]:
        return (yield from _campaign_by_id(campaign_id))

    @snapshot
    def list_campaigns(self) -> Rule[list[Campaign]]:
        found = []
        for row in (yield rows(CAMPAIGNS)):
            counts = {r["status"]: int(r["n"])
                      for r in (yield rows(CAMPAIGN_COUNTS, int(row["id"])))}
            found.append(_campaign(row, counts))
        return found

    @writes
    def campaign_slots(self, campaign_id: int, now: float, interval: float,
                       limit: int) -> Rule[int]:
        row = yield one(NEXT_SEND, campaign_id)
        if row is None:
            return 0
        seen = None if row["next_send_at"] is None else float(row["next_send_at"])
        due = max(seen if seen is not None else now, now - interval)
        if due > now:
            return 0
        slots = min(limit, int((now - due) / interval) + 1)
        moved = yield count(CLAIM_SENDS, due + slots * interval, campaign_id,
                            -1.0 if seen is None else seen)
        return slots if moved else 0

    @reads
    def campaign_recipients(self, campaign_id: int, *, pending_only: bool = False,
                            limit: int = 1000) -> Rule[list[CampaignRecipient]]:
        found = yield rows(RECIPIENTS, campaign_id, not pending_only, limit)
        return [CampaignRecipient(int(r["contact_id"]), r["status"], r["channel"], r["error"],
                                  None if r["message_id"] is None else int(r["message_id"]))
                for r in found]

    @writes
    def campaign_deliver(self, campaign_id: int, contact_id: int, reply: NewMessage | None,
                         *, error: str | None = None,
                         delivered_by_store: Sequence[str] = ()) -> Rule[Delivered]:
        status = "sent" if reply is not None else "skipped"
        channel = reply.channel if reply is not None else None
        if (yield count(SETTLE, status, channel, error, campaign_id, contact_id)) == 0:
            return Delivered(False)  # settled already (a resumed run, another process)
        message = None
        if reply is not None:
            if reply.channel is None:
                raise ValueError("a campaign message names its channel")
            conversation_id = yield from _thread(contact_id)
            row = yield one(INSERT_REPLY, conversation_id, reply.author.value, reply.channel,
                            reply.text, dump_suggestions(reply.suggestions), reply.agent_id,
                            reply.article_id, False, reply_extras(reply))
            message = message_from_row(row)
            recipient = yield one(RECIPIENT, contact_id, reply.channel)
            if recipient is None:
                raise NotFound(f"the contact has no identity on channel {reply.channel!r}")
            yield count(INSERT_OUTBOX, message.id, conversation_id, reply.channel,
                        recipient["external_id"], reply.channel in delivered_by_store)
            yield one(TOUCH_THREAD, reply.text, conversation_id)
            yield count(SET_RECIPIENT_MESSAGE, message.id, campaign_id, contact_id)
        if not (yield one(ANY_PENDING, campaign_id))["found"]:
            yield count(FINISH, campaign_id)
        return Delivered(True, message)
