"""A stand-in for the Slack Web API (``<base>/<method>``) and Socket Mode, and events and
interactions in Slack's documented formats, signed with slack_sdk's ``SignatureVerifier``."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

from fakes import Failure, FakePlatform

BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM = "T0ACME"


def rate_limited(retry_after: int = 1) -> Failure:
    return Failure(429, {"ok": False, "error": "ratelimited"},
                   {"Retry-After": str(retry_after)})


def error(code: str) -> Failure:
    """Slack's way: HTTP 200 with ``ok: false``."""
    return Failure(200, {"ok": False, "error": code})


class FakeSlack(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self.sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connected = asyncio.Event()
        self.app.router.add_get("/socket", self.socket)
        self.app.router.add_route("*", "/api/{method}", self.handle)

    def api_url(self) -> str:
        return self.url("/api/")

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call, failure = await self.record(method, request)
        if failure is not None:
            return failure.response()
        params = call.params
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID,
                                      "team_id": TEAM, "team": "Acme", "user": "supporthub",
                                      "url": "https://acme.slack.com/"})
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return web.json_response({"ok": True, "channel": params["channel"], "ts": ts,
                                      "message": {"text": params.get("text"), "ts": ts,
                                                  "bot_id": BOT_ID, "user": BOT_USER}})
        if method == "users.info":
            return web.json_response({"ok": True, "user": {
                "id": params["user"], "name": "jane",
                "profile": {"display_name": "Jane", "real_name": "Jane Doe"}}})
        if method == "apps.connections.open":
            ws = self.url("/socket").replace("http://", "ws://")
            return web.json_response({"ok": True, "url": ws})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    def posted(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls_to("chat.postMessage")]

    # Socket Mode -----------------------------------------------------------------------
    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self._connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                future = self._acks.pop(data.get("envelope_id", ""), None)
                if future is not None and not future.done():
                    future.set_result(data)
        return ws

    async def push(self, payload: dict[str, Any], kind: str = "events_api",
                   timeout: float = 8.0) -> dict[str, Any]:
        """Send an envelope over the app's socket; return its acknowledgement."""
        await asyncio.wait_for(self._connected.wait(), timeout)
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": kind,
                                          "payload": payload, "accepts_response_payload": False,
                                          "retry_attempt": 0, "retry_reason": ""})
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await super().close()


# events and interactions -------------------------------------------------------------
_seq = itertools.count(1)


def new_ts() -> str:
    return f"{int(time.time())}.{next(_seq):06d}"


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0SUPPORT",
            "event": {"event_ts": event.get("ts", new_ts()), **event},
            "type": "event_callback", "event_id": f"Ev{next(_seq):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}


def dm(text: str, user: str = "U0JANE", **fields: Any) -> dict[str, Any]:
    return event_callback({"type": "message", "channel": "D0JANE", "user": user,
                           "text": text, "ts": new_ts(), "channel_type": "im", **fields})


def mention(text: str, channel: str = "C0GENERAL", user: str = "U0JANE",
            **fields: Any) -> dict[str, Any]:
    return event_callback({"type": "app_mention", "channel": channel, "user": user,
                           "text": f"<@{BOT_USER}> {text}", "ts": new_ts(), **fields})


def block_action(posted: dict[str, Any], button: dict[str, Any], user: str = "U0JANE",
                 channel: str = "D0JANE", message_ts: str = "1.0") -> dict[str, Any]:
    """A press of ``button`` on a message the app posted (as chat.postMessage got it)."""
    container = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                 "is_ephemeral": False}
    message = {"type": "message", "ts": message_ts, "bot_id": BOT_ID,
               "text": posted.get("text"), "blocks": posted.get("blocks")}
    if posted.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"] = posted["thread_ts"]
    return {"type": "block_actions", "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": "jane", "name": "jane", "team_id": TEAM},
            "api_app_id": "A0SUPPORT", "token": "legacy", "container": container,
            "trigger_id": f"{next(_seq)}.{next(_seq)}.abc", "channel": {"id": channel},
            "message": message,
            "actions": [{**button, "block_id": "b1", "action_ts": new_ts()}]}


def signed(secret: str, body: str, timestamp: int | None = None,
           retry: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
                   timestamp=stamp, body=body)}
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return headers


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})
