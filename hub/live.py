"""Pumping bus events into one WebSocket until either side goes away."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from hub.events import Event, Subscription


async def pump(
    ws: web.WebSocketResponse,
    subscription: Subscription,
    forward: Callable[[Event], Awaitable[None]],
    on_text: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Forward events while reading the client's frames (text ones go to ``on_text``).

    Ends when the client disconnects, or when the subscription ends (it fell behind, or
    the hub is shutting down) — then the socket is closed so the client reconnects and
    resumes from the last message it saw — or when the session that authorised it ended
    (closed with the subscription's ``close_code``, see hub/sessions.py).
    """

    async def send_events() -> None:
        try:
            async for event in subscription:
                await forward(event)
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            await ws.close(code=subscription.close_code
                           or (1012 if subscription.overflowed else 1001))

    sender = asyncio.ensure_future(send_events())
    try:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
            if msg.type == WSMsgType.TEXT and on_text is not None:
                await on_text(msg.data)  # e.g. {"type": "typing"}
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


class Throttle:
    """At most one event per ``seconds`` (typing indicators: a chatty or hostile client
    must not flood the bus, or PostgreSQL's NOTIFY with several processes)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self._seconds = seconds
        self._last = float("-inf")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._seconds:
            return False
        self._last = now
        return True
