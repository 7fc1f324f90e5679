"""Live sockets authorised by an agent session end when the session ends.

A WebSocket is authorised once, at its handshake; without this, a socket opened before a
logout, a deactivation, a password reset, a role change or the session's expiry would go on
streaming every conversation. Each such socket is registered here with the digest of the
session token that opened it. Its session is checked again:

- at once for the sockets of a user named by a :class:`~hub.events.SessionsEnded` event —
  published by whoever ends sessions, and relayed to every other process on PostgreSQL
  (hub/relay.py);
- every ``check_seconds`` for all sockets, which catches expiry (the session TTL) and
  anything ended from outside a hub process.

A socket whose session no longer holds — gone, expired, its user inactive, or its user's
role changed since the handshake — is closed with :data:`SESSION_ENDED_CLOSE_CODE`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hub.events import Event, EventBus, SessionsEnded, Subscription
from hub.model import Role
from hub.store import Store

log = logging.getLogger(__name__)

# 4000-4999 are for applications (RFC 6455 §7.4.2); the client logs in again
SESSION_ENDED_CLOSE_CODE = 4401


@dataclass(frozen=True, slots=True)
class _Watched:
    token_digest: str
    user_id: int
    role: Role


class SessionWatch:
    """The registry of session-authorised sockets of this process, and the task that closes
    those whose session ended. ``run`` is owned by the application (hub/app.py)."""

    def __init__(self, store: Store, bus: EventBus, check_seconds: float = 1.0) -> None:
        self._store = store
        self._check_seconds = check_seconds
        self._watched: dict[Subscription, _Watched] = {}
        self._pending: set[int] = set()  # users whose sockets to re-check now
        self._wake = asyncio.Event()
        bus.add_listener(self._on_event)

    def __len__(self) -> int:
        return len(self._watched)

    @contextmanager
    def watch(self, subscription: Subscription, token_digest: str, user_id: int,
              role: Role) -> Iterator[None]:
        """While inside, ``subscription`` ends as soon as this session does."""
        self._watched[subscription] = _Watched(token_digest, user_id, role)
        try:
            yield
        finally:
            self._watched.pop(subscription, None)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionsEnded):
            self._pending.add(event.user_id)
            self._wake.set()

    async def run(self) -> None:
        """Re-check the sessions named by events at once, and all of them periodically."""
        deadline = time.monotonic() + self._check_seconds
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
            self._wake.clear()
            users: set[int] | None = self._pending
            self._pending = set()
            if time.monotonic() >= deadline:
                users = None  # everyone
                deadline = time.monotonic() + self._check_seconds
            try:
                await self.check(users)
            except Exception:  # a store hiccup: the next round tries again
                log.exception("session watch: checking live sessions failed")

    async def check(self, users: set[int] | None = None) -> int:
        """Close the sockets (of ``users``, or all) whose session ended; how many."""
        now = time.time()
        verdicts: dict[tuple[str, Role], bool] = {}
        closed = 0
        for subscription, watched in list(self._watched.items()):
            if users is not None and watched.user_id not in users:
                continue
            key = (watched.token_digest, watched.role)
            if key not in verdicts:
                user = await self._store.session_user(watched.token_digest, now)
                verdicts[key] = (user is not None and user.id == watched.user_id
                                 and user.role is watched.role)
            if not verdicts[key]:
                self._watched.pop(subscription, None)
                subscription.end(close_code=SESSION_ENDED_CLOSE_CODE)
                closed += 1
        return closed
