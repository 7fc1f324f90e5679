"""A capability some engines offer: short notes between the hub processes sharing a database.

Several hub processes on one PostgreSQL database must hear each other's events (a message
committed by one is pushed live by all); the engine carries them (``LISTEN/NOTIFY``).
The embedded SQLite store is owned by one process, so it offers none:
``Store.notifications()`` returns ``None`` and nothing of PostgreSQL is imported.

The payloads are opaque strings here; what they mean is ``hub/relay.py``'s business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager


class Listening(ABC):
    """An open listening connection."""

    @abstractmethod
    async def until_lost(self, keepalive: float) -> None:
        """Return when the connection is lost; probe it every ``keepalive`` seconds (a
        half-open connection is found by the probe, which raises)."""


class Notifications(ABC):
    """Send notes to every process listening on this database, and listen for theirs."""

    @abstractmethod
    async def send(self, payloads: Sequence[str]) -> None:
        """Send the payloads, in order, to every listener (this one's included)."""

    @abstractmethod
    def listen(
        self, on_payload: Callable[[str], None]
    ) -> AbstractAsyncContextManager[Listening]:
        """Open a connection that calls ``on_payload`` for every note sent; closed on exit.
        Raises when the database cannot be reached."""
