"""Slack, through slack-bolt's ``AsyncApp`` and slack_sdk's ``AsyncWebClient`` (both held).

Events, interactivity and commands arrive at our own aiohttp route ``POST
/webhooks/slack/events``: the signature is checked on the raw body first (slack_sdk's
``SignatureVerifier``), then the request is dispatched to the app with Bolt's aiohttp adapter
helpers. ``process_before_response`` makes Bolt run the listener, which commits the message,
before Slack gets its 200. A person's message (an ``event_callback`` of type ``message`` or
``app_mention``, most of the traffic) skips Bolt's dispatch once the bot's own user id is
known: the same listener is called directly (Bolt's per-request machinery was a third of the
event loop's time per event at saturation; ``bench/webhooks.py``). ``auth.test`` at start
tells that id; if it fails, the first event goes through Bolt, whose authorization tells it.
Nothing else waits before the 200: a new user's display name (``users.info``) is looked up
after the commit, in a task the channel owns, and written to their contact if it has no name
yet (issue #16: the lookup before the ack made Slack's ack p99 18x the bare handler's).
With ``SUPPORTHUB_SLACK_APP_TOKEN`` set, the same app also listens over Socket Mode, for
running without a public URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
from typing import Any

import aiohttp
from aiohttp import ClientError, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bots import render
from bots.base import Channel, DeliveryError, OnAccept, OnMessage, PermanentFailure, RetryLater
from bots.slack_inbound import (
    ACTION_ID,
    ACTION_PREFIX,
    CHANNEL,
    RATING_ID,
    RATING_PREFIX,
    choice,
    message_event,
    rating,
    recipient_of_message,
    split_recipient,
    thread_key,
)
from hub import metrics
from hub.config import Settings
from hub.model import InboundMessage, OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)

EVENTS_PATH = "/webhooks/slack/events"
LOOKUPS_AT_ONCE = 4  # users.info calls in flight (names are looked up after the ack)
SESSION_CONNECTIONS = 64  # concurrent Web API calls (the outbox sends in parallel)
NAME_WAITS, NAME_WAIT_SECONDS = 60, 0.5  # a name waits for its contact this long at most
SECTION_LIMIT = 3000  # characters of text in one Block Kit section
# the conversation is gone for the bot: no reply there can ever be delivered
_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived", "user_not_found",
                   "user_disabled", "cannot_dm_bot", "messages_tab_disabled"})


class SlackChannel(Channel):
    name = CHANNEL

    def __init__(self, settings: Settings, store: Store) -> None:
        self._store = store
        self._app_token = settings.slack_app_token
        self._client = AsyncWebClient(token=settings.slack_bot_token,
                                      base_url=settings.slack_api_url)
        self._verifier = (SignatureVerifier(settings.slack_signing_secret)
                          if settings.slack_signing_secret else None)
        # Socket Mode alone needs no signing secret; HTTP requests are then all refused
        self._app = AsyncApp(
            client=self._client, process_before_response=True, logger=log,
            signing_secret=settings.slack_signing_secret or secrets.token_hex(16),
        )
        self._app.event("message")(self._on_message_event)
        self._app.event("app_mention")(self._on_mention)
        self._app.action(ACTION_ID)(self._on_choice)
        self._app.action(RATING_ID)(self._on_rating)
        self._socket: AsyncSocketModeHandler | None = None
        self._accept: OnAccept | None = None
        self._names: dict[str, str | None] = {}
        # learnt from auth.test at start, else from Bolt's context on the first event
        self._bot_user_id: str | None = None
        self._identifying: asyncio.Task[None] | None = None
        self._lookups: dict[str, asyncio.Task[None]] = {}  # user -> its name lookup
        # users.info is rate-limited by Slack (tier 4), and a burst of new users started one
        # lookup each at once, competing with the acknowledgements: a few at a time
        self._lookup_slots = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    # lifecycle -----------------------------------------------------------------
    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._accept = accept
        return [web.post(EVENTS_PATH, self.events)]

    async def start(self) -> None:
        # one pooled session for every Web API call: without one, slack_sdk opens (and
        # closes) a new ClientSession, and so a new connection, per call — ~35% of the hub's
        # CPU when replying under load (issue #16's profile)
        self._client.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SESSION_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=self._client.timeout))
        self._identifying = asyncio.create_task(self._learn_bot_user(), name="slack-auth-test")
        if self._app_token:
            self._socket = AsyncSocketModeHandler(self._app, self._app_token)
            await self._socket.connect_async()

    async def _learn_bot_user(self) -> None:
        """The bot's user id before the first event, so a first burst takes the direct path
        (each of its events would otherwise go through Bolt's dispatch until one's
        authorization answers). Best effort: Bolt tells it on the first event otherwise."""
        try:
            reply = await self._client.auth_test()
        except (SlackApiError, ClientError, TimeoutError) as exc:
            log.info("slack: auth.test at start failed (%s); the first event will tell", exc)
            return
        user = reply.get("user_id")
        if isinstance(user, str) and self._bot_user_id is None:
            self._bot_user_id = user

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        if self._identifying is not None:
            self._identifying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._identifying
            self._identifying = None
        lookups = list(self._lookups.values())
        for task in lookups:
            task.cancel()
        for task in lookups:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._client.session = self._client.session, None
        if session is not None:
            await session.close()

    # inbound -------------------------------------------------------------------
    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self._verifier is None or not _valid(self._verifier, body, request):
            metrics.WEBHOOK_VERIFICATION_FAILURES.labels(CHANNEL).inc()
            return web.json_response({"error": {"code": "unauthorized", "message":
                                      "missing, stale or wrong Slack signature"}}, status=401)
        if self._bot_user_id is not None and request.content_type == "application/json":
            direct = await self._person_writing(body)
            if direct is not None:
                return direct
        bolt_response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _person_writing(self, raw: bytes) -> web.Response | None:
        """A message event handled without Bolt's dispatch; None: anything else (Bolt's)."""
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("type") != "event_callback":
            return None
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
            return None
        if event.get("user") != self._bot_user_id:  # Bolt ignores the bot's own events too
            context = {"bot_user_id": self._bot_user_id}
            if event["type"] == "message":
                await self._on_message_event(event, body, context)
            else:
                await self._on_mention(event, body, context)
        return web.Response(status=200)

    async def _commit(self, inbound: InboundMessage | None) -> None:
        if inbound is None:
            return
        if self._accept is None:
            raise RuntimeError("the Slack channel is not attached to a hub")
        user = inbound.extras.get("user_id")
        unknown = inbound.display_name is None and isinstance(user, str) \
            and user not in self._names
        if inbound.display_name is None and isinstance(user, str) and self._names.get(user):
            inbound = dataclasses.replace(inbound, display_name=self._names[user])
        await self._accept(inbound)
        if unknown and isinstance(user, str) and user not in self._lookups:
            self._lookups[user] = asyncio.create_task(
                self._name_contact(user, inbound.external_id), name=f"slack-name-{user}")

    async def _name_contact(self, user: str, external_id: str) -> None:
        """After the ack: the user's name, onto their contact if it has none yet (once the
        message is out of the intake journal: waits up to NAME_WAITS × NAME_WAIT_SECONDS)."""
        try:
            async with self._lookup_slots:
                name = await self._name(user)
            status = await self._store.identity_status(CHANNEL, external_id)
            for _ in range(NAME_WAITS if name else 0):
                if status is not None:
                    break
                await asyncio.sleep(NAME_WAIT_SECONDS)
                status = await self._store.identity_status(CHANNEL, external_id)
            if name and status is not None:
                contact = await self._store.get_contact(status.contact_id)
                if contact is not None and not contact.name:
                    await self._store.update_contact(status.contact_id, name=name)
        except Exception:  # best effort: the message is committed and answered anyway
            log.warning("slack: could not name the contact of %s", user, exc_info=True)
        finally:
            self._lookups.pop(user, None)

    async def _on_message_event(self, event: dict[str, Any], body: dict[str, Any],
                                context: dict[str, Any]) -> None:
        self._bot_user_id = self._bot_user_id or context.get("bot_user_id")
        recipient = recipient_of_message(event)
        if recipient is None:
            return  # channel chatter: mentions come as app_mention
        if event.get("channel_type") != "im" and not await self._known_thread(recipient):
            return  # a thread the bot was never mentioned in
        await self._commit(message_event(event, recipient, context.get("bot_user_id"),
                                         body.get("event_id")))

    async def _known_thread(self, recipient: str) -> bool:
        """Whether the bot was mentioned in this thread: its mention is stored, or still
        waits in the intake journal."""
        return (await self._store.identity_status(CHANNEL, recipient) is not None
                or await self._store.chat_accepted(CHANNEL, recipient))

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any],
                          context: dict[str, Any]) -> None:
        self._bot_user_id = self._bot_user_id or context.get("bot_user_id")
        channel, ts = event.get("channel"), event.get("thread_ts") or event.get("ts")
        if not channel or not ts:
            return
        await self._commit(message_event(event, thread_key(channel, ts),
                                         context.get("bot_user_id"), body.get("event_id")))

    async def _on_choice(self, ack: AsyncAck, body: dict[str, Any],
                         action: dict[str, Any]) -> None:
        await self._commit(choice(body, action))
        await ack()

    async def _on_rating(self, ack: AsyncAck, body: dict[str, Any],
                         action: dict[str, Any]) -> None:
        await self._commit(rating(body, action))
        await ack()

    async def _name(self, user: str) -> str | None:
        """The user's display name, for the agent; best effort, remembered."""
        if user not in self._names:
            try:
                info = await self._client.users_info(user=user)
                profile = (info.get("user") or {}).get("profile") or {}
                self._names[user] = profile.get("display_name") or profile.get("real_name") \
                    or (info.get("user") or {}).get("name")
            except (SlackApiError, ClientError, TimeoutError):
                return None
        return self._names[user]

    # outbound ------------------------------------------------------------------
    async def send(self, reply: OutboxItem) -> str | None:
        channel, thread_ts = split_recipient(reply.recipient)
        text = render.slack_mrkdwn(reply.text)
        if reply.agent_name:
            text = f"*{render.slack_mrkdwn(reply.agent_name)}*\n{text}"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": part}}
            for part in _sections(text)
        ]
        if reply.suggestions:
            blocks.append({"type": "actions", "elements": [
                {"type": "button", "action_id": f"{ACTION_PREFIX}{s.article_id}",
                 "value": str(s.article_id),
                 "text": {"type": "plain_text", "text": s.title[:75], "emoji": True}}
                for s in reply.suggestions[:25]
            ]})
        elif "csat" in reply.marks:  # the satisfaction survey: five buttons
            blocks.append({"type": "actions", "elements": [
                {"type": "button", "action_id": f"{RATING_PREFIX}{n}", "value": str(n),
                 "text": {"type": "plain_text", "text": str(n)}} for n in range(1, 6)]})
        fallback = render.slack_plain(reply.text)
        if reply.agent_name:
            fallback = f"{reply.agent_name}: {fallback}"
        try:
            response = await self._client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=fallback, blocks=blocks,
                unfurl_links=False)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (ClientError, TimeoutError) as exc:
            raise RetryLater(f"slack: {type(exc).__name__}: {exc}") from exc
        ts = response.get("ts")
        return str(ts) if ts else None


def _valid(verifier: SignatureVerifier, body: bytes, request: web.Request) -> bool:
    try:
        return verifier.is_valid_request(body, dict(request.headers))
    except ValueError:  # a timestamp that is not a number
        return False


def _sections(text: str) -> list[str]:
    parts: list[str] = []
    while len(text) > SECTION_LIMIT:
        at = text.rfind("\n", 0, SECTION_LIMIT)
        at = at if at > SECTION_LIMIT // 2 else text.rfind(" ", 0, SECTION_LIMIT)
        at = at if at > 0 else SECTION_LIMIT
        parts.append(text[:at])
        text = text[at:].lstrip()
    return [*parts, text or " "]


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = response.status_code
    error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
    if status == 429 or error == "ratelimited":
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return RetryLater(f"slack: rate limited (HTTP {status})",
                          retry_after=float(retry_after) if retry_after else None)
    if status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable",
                                  "request_timeout"):
        return RetryLater(f"slack: HTTP {status} {error}".rstrip())
    if error in _GONE:
        return PermanentFailure(f"slack: {error}")
    return PermanentFailure(f"slack: {error or f'HTTP {status}'}", unreachable=False)
