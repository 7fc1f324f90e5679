"""The agent console: the ``/console`` page and its live WebSocket.

Agents hear of every conversation change and every message; the page keeps its queue,
"mine" and bot lists and the open thread current from that stream. The socket lives only as
long as the session that opened it (hub/sessions.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from hub.auth import request_token, require_user, token_digest
from hub.core import HUB
from hub.events import ConversationChanged, Event, MessageCreated, Typing
from hub.live import Throttle, pump
from hub.serialize import conversation_json, message_json

STATIC = Path(__file__).parent / "static"


async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html")


async def agent_live(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    # a browser cannot set a header on a WebSocket handshake: ?token= is read here only
    token = request_token(request, allow_query=True) or ""
    agent = await require_user(request, hub.store, allow_query=True)
    ws = web.WebSocketResponse(heartbeat=30, compress=False)
    await ws.prepare(request)

    async def forward(event: Event) -> None:
        if isinstance(event, MessageCreated):
            await ws.send_json({"type": "message", "message": message_json(event.message)})
        elif isinstance(event, Typing):
            if event.author == "customer":
                await ws.send_json({"type": "typing", "conversation_id": event.conversation_id,
                                    "author": "customer"})
        elif isinstance(event, ConversationChanged):
            await ws.send_json(
                {"type": "conversation", "conversation": conversation_json(event.conversation)}
            )

    typing_throttle = Throttle()

    async def on_text(data: str) -> None:
        try:
            frame = json.loads(data)
            conversation_id = int(frame["conversation_id"]) if frame.get("type") == "typing" \
                else None
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        if conversation_id is not None and typing_throttle.ready():
            hub.bus.publish(Typing(conversation_id, "agent", agent.name))

    with hub.bus.subscribe() as subscription, hub.session_watch.watch(
            subscription, token_digest(token), agent.id, agent.role):
        try:
            await pump(ws, subscription, forward, on_text)
        except ConnectionResetError:
            pass
    return ws


def console_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/console", console_page),
        web.static("/static/console", STATIC),
        web.get("/api/v1/agent/ws", agent_live),
    ]
