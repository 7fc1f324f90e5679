"""What every channel adapter is, in Rasa's manner: an input side that turns a platform's
inbound event into an :class:`InboundMessage` and hands it to ``on_message``, and an output
side that turns an outbox item into the platform's API call.

Features a platform lacks degrade here, in the base class: a channel without buttons gets
suggestions as a numbered list, a channel without names gets the agent's name as a prefix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from hub.model import InboundMessage, Ingested, OutboxItem

# commits the whole message and gives it back stored (the web chat, email)
OnMessage = Callable[[InboundMessage], Awaitable[Ingested]]
# journals the message (hub/intake.py): a webhook acknowledges the platform once it returns
OnAccept = Callable[[InboundMessage], Awaitable[None]]


class DeliveryError(Exception):
    """A reply could not be delivered."""


class RetryLater(DeliveryError):
    """A temporary failure (rate limit, 5xx, network): try again, after ``retry_after``
    seconds when the platform said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """Retrying cannot help (blocked by the user, unknown number, revoked token)."""

    def __init__(self, message: str, unreachable: bool = True) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class OutputChannel(ABC):
    name: str
    # True for a channel whose delivery IS the store: the web chat reads replies from it and
    # hears of them on the event bus, so there is no platform to call. Such replies are
    # written to the outbox as already sent, in the transaction that commits them, and never
    # leased. False (the default) for every channel that calls a platform: the outbox leases,
    # sends, retries and dead-letters its replies.
    delivered_by_store: bool = False

    @abstractmethod
    async def send(self, reply: OutboxItem) -> str | None:
        """Deliver one reply; return the platform's message id when it gives one.

        Raise :class:`RetryLater` or :class:`PermanentFailure`; anything else is retried.
        """

    async def start(self) -> None:
        """Open clients, register webhooks: whatever must happen once the hub runs."""

    async def stop(self) -> None:
        """Close what :meth:`start` opened."""

    def render_text(self, reply: OutboxItem) -> str:
        """Plain-text rendering: agent name as prefix, suggestions as a numbered list."""
        text = reply.text
        if reply.agent_name:
            text = f"{reply.agent_name}: {text}"
        if reply.suggestions:
            lines = [f"{n}. {s.title}" for n, s in enumerate(reply.suggestions, start=1)]
            numbers = ", ".join(str(n) for n in range(1, len(lines) + 1))
            text = "\n".join([text, *lines, f"Reply {numbers}."])
        return text


class InputChannel(ABC):
    name: str

    @abstractmethod
    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        """The aiohttp routes that receive this platform's events: each hands its messages
        to ``on_message`` when it needs them back stored, else to ``accept``."""


class Channel(InputChannel, OutputChannel):
    """A platform adapter with both sides (the usual case)."""


class Gateway(Protocol):
    """One platform account that serves several channel names (Twilio: ``sms`` and
    ``whatsapp``; Meta: ``messenger`` and ``instagram``): one webhook, one client."""

    def routes(self, accept: OnAccept) -> list[web.AbstractRouteDef]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, channel: str, reply: OutboxItem) -> str | None: ...


class GatewayChannel(Channel):
    """A channel name over a shared :class:`Gateway`, named for where replies go; one of a
    gateway's channels serves its webhooks (starting and stopping a gateway twice is a
    no-op the gateway owns)."""

    def __init__(self, name: str, gateway: Gateway, serves_webhooks: bool) -> None:
        self.name = name
        self._gateway = gateway
        self._serves_webhooks = serves_webhooks

    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        return self._gateway.routes(accept) if self._serves_webhooks else []

    async def start(self) -> None:
        await self._gateway.start()

    async def stop(self) -> None:
        await self._gateway.stop()

    async def send(self, reply: OutboxItem) -> str | None:
        return await self._gateway.send(self.name, reply)
