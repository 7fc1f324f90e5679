"""Cross-process events over the store's notifications (PostgreSQL ``LISTEN/NOTIFY``): several
hub processes, one live hub. The transport is a capability of the store
(``Store.notifications()``, hub/store/postgres_relay.py); SQLite has none, and this module
imports nothing of PostgreSQL.

Every event a process publishes on its bus is also sent as a NOTIFY on the schema's channel
(``supporthub_events_<schema>``). The payload is small JSON — the event kind, an id, and the
sender's random ``origin`` so a process ignores its own — never the message text: a NOTIFY
carries at most 8000 bytes, and the store is the source of truth anyway. Each process keeps
one connection LISTENing; for what others announced it re-reads the message or conversation
from the store and delivers the event to its own subscribers only (``EventBus.deliver``), so
it is never relayed again. ``KnowledgeChanged`` makes the process rebuild its matcher;
``SessionsEnded`` (a user id) makes it re-check that user's live sockets, closing those of
ended sessions (hub/sessions.py).

NOTIFY is sent after the store's transaction committed (the bus publishes after the commit),
so a receiver always finds the row it is told about. Events are hints: if the listening
connection drops, it is reopened with back-off, and then every live socket of this process
is ended (``bus.close_all``) so clients reconnect and resync from the store, and the
knowledge base is reloaded — whatever was missed meanwhile is picked up.

Why not Redis: PostgreSQL is already there, a round trip is well under a millisecond on a
LAN, and the event rate of a support hub (messages typed by people) is far below what
LISTEN/NOTIFY carries. Nothing was measured that asks for another moving part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from hub.events import (
    ConversationChanged,
    Event,
    EventBus,
    KnowledgeChanged,
    MessageCreated,
    SessionsEnded,
    Typing,
)
from hub.store import Store
from hub.store.notifications import Notifications

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 10.0
_QUEUE_LIMIT = 10_000
_BATCH = 200


def encode(event: Event, origin: str) -> str:
    if isinstance(event, MessageCreated):
        body: dict[str, Any] = {"e": "message", "id": event.message.id}
    elif isinstance(event, ConversationChanged):
        body = {"e": "conversation", "id": event.conversation.id}
    elif isinstance(event, Typing):  # ephemeral: the whole event travels, nothing is re-read
        body = {"e": "typing", "id": event.conversation_id, "a": event.author,
                "n": (event.name or "")[:200]}
    elif isinstance(event, SessionsEnded):  # who, never which token
        body = {"e": "sessions", "id": event.user_id}
    else:
        body = {"e": "knowledge"}
    body["o"] = origin
    return json.dumps(body, separators=(",", ":"))


class EventRelay:
    """Owns three tasks: a sender (bus → NOTIFY), a listener (LISTEN, reconnecting) and a
    consumer (notification → store re-read → local bus). Start and stop with the app."""

    def __init__(
        self,
        store: Store,
        notifications: Notifications,
        bus: EventBus,
        reload_knowledge: Callable[[], Awaitable[None]],
    ) -> None:
        self._store = store
        self._notifications = notifications
        self._bus = bus
        self._reload_knowledge = reload_knowledge
        self.origin = secrets.token_hex(8)
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(_QUEUE_LIMIT)
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self.listening = asyncio.Event()

    # lifecycle -------------------------------------------------------------
    async def start(self, ready_timeout: float = 10.0) -> None:
        self._running = True
        self._bus.add_relay(self._relay)
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="relay-send"),
            asyncio.create_task(self._listen_loop(), name="relay-listen"),
            asyncio.create_task(self._consume_loop(), name="relay-consume"),
        ]
        try:  # serve only once we hear the others, so nothing said after start is missed
            await asyncio.wait_for(self.listening.wait(), ready_timeout)
        except TimeoutError:
            log.warning("event relay: not listening yet; continuing, it keeps trying")

    async def stop(self, flush_timeout: float = 1.0) -> None:
        self._running = False
        with contextlib.suppress(TimeoutError):  # what was published before stopping goes out
            await asyncio.wait_for(self._outgoing.join(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # outgoing ----------------------------------------------------------------
    def _relay(self, event: Event) -> None:
        """The bus's relay hook (synchronous): queue the event for the sender task."""
        if not self._running:
            return
        try:
            self._outgoing.put_nowait(encode(event, self.origin))
        except asyncio.QueueFull:
            log.warning("event relay: outgoing queue full; an event was not relayed")

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outgoing.get()]
            while len(batch) < _BATCH and not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            try:
                for attempt in range(3):
                    try:
                        await self._notifications.send(batch)
                        break
                    except Exception as exc:  # the sender must outlive any one failure
                        log.warning("event relay: NOTIFY failed (%s), attempt %d", exc,
                                    attempt + 1)
                        await asyncio.sleep(0.5)
            finally:
                for _ in batch:
                    self._outgoing.task_done()

    # incoming ----------------------------------------------------------------
    def _on_notify(self, payload: str) -> None:
        try:
            body = json.loads(payload)
        except json.JSONDecodeError:
            log.warning("event relay: ignoring a malformed notification %r", payload[:200])
            return
        if not isinstance(body, dict) or body.get("o") == self.origin:
            return
        try:
            self._incoming.put_nowait(body)
        except asyncio.QueueFull:  # far behind: have every live view resync from the store
            log.warning("event relay: incoming queue full; resyncing live views")
            self._bus.close_all()

    async def _listen_loop(self) -> None:
        delay = 0.2
        connected_before = False
        while True:
            try:
                async with self._notifications.listen(self._on_notify) as listening:
                    if connected_before:
                        log.info("event relay: listening again; resyncing live views")
                        await self._incoming.put({"e": "resync"})
                    connected_before, delay = True, 0.2
                    self.listening.set()
                    await listening.until_lost(KEEPALIVE_SECONDS)
                log.warning("event relay: the listening connection closed")
            except Exception as exc:  # whatever broke, listen again after a pause
                log.warning("event relay: listening failed: %s", exc)
            finally:
                self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _consume_loop(self) -> None:
        while True:
            body = await self._incoming.get()
            try:
                await self._apply(body)
            except Exception:
                log.exception("event relay: could not apply %r", body)

    async def _apply(self, body: dict[str, Any]) -> None:
        kind = body.get("e")
        if kind == "message":
            message = await self._store.get_message(int(body["id"]))
            if message is not None:
                self._bus.deliver(MessageCreated(message))
        elif kind == "conversation":
            conversation = await self._store.get_conversation(int(body["id"]))
            if conversation is not None:
                self._bus.deliver(ConversationChanged(conversation))
        elif kind == "typing":
            self._bus.deliver(Typing(int(body["id"]), str(body.get("a", "")),
                                     str(body.get("n") or "") or None))
        elif kind == "sessions":
            self._bus.deliver(SessionsEnded(int(body["id"])))
        elif kind == "knowledge":
            await self._reload_knowledge()
            self._bus.deliver(KnowledgeChanged())
        elif kind == "resync":
            self._bus.close_all()
            await self._reload_knowledge()


async def announce_knowledge_changed(store: Store) -> None:
    """Tell running hubs the knowledge base changed (from outside them, e.g. the CLI)."""
    notifications = store.notifications()
    if notifications is not None:
        await notifications.send([encode(KnowledgeChanged(), origin="cli")])


def make_relay(
    store: Store, bus: EventBus, reload_knowledge: Callable[[], Awaitable[None]]
) -> EventRelay | None:
    """The relay this store needs: PostgreSQL gets LISTEN/NOTIFY; SQLite (one process) none."""
    notifications = store.notifications()
    if notifications is None:
        return None
    return EventRelay(store, notifications, bus, reload_knowledge)
