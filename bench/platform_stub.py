"""A minimal Telegram + Slack + Twilio API stand-in for the benchmarks (``bench/webhooks.py``
starts it as a subprocess): it answers what the real SDKs call, and records every reply
(channel, recipient, text, arrival time). ``GET /stats`` returns the records.

    python bench/platform_stub.py PORT
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from typing import Any

from aiohttp import web

BOT = {"id": 7000001, "is_bot": True, "first_name": "Acme Support", "username": "acme_bot"}
replies: list[tuple[str, str, str, float]] = []  # channel, recipient, text, time.time()
ids = itertools.count(1)


async def params_of(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body: dict[str, Any] = json.loads(await request.read() or b"{}")
        return body
    return dict(await request.post())


async def telegram(request: web.Request) -> web.Response:
    method = request.match_info["method"]
    if method == "getMe":
        return web.json_response({"ok": True, "result": BOT})
    if method == "sendMessage":
        params = await params_of(request)
        replies.append(("telegram", str(params["chat_id"]), str(params["text"]), time.time()))
        return web.json_response({"ok": True, "result": {
            "message_id": next(ids), "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"}, "from": BOT,
            "text": params["text"]}})
    return web.json_response({"ok": True, "result": True})


async def slack(request: web.Request) -> web.Response:
    method = request.match_info["method"]
    params = await params_of(request)
    if method == "users.info":
        return web.json_response({"ok": True, "user": {
            "id": params.get("user"), "name": "user", "profile": {"display_name": "User"}}})
    if method == "chat.postMessage":
        replies.append(("slack", str(params["channel"]), str(params.get("text")), time.time()))
        return web.json_response({"ok": True, "channel": params["channel"],
                                  "ts": f"{int(time.time())}.{next(ids):06d}"})
    if method == "auth.test":
        return web.json_response({"ok": True, "user_id": "UBOT", "bot_id": "BBOT",
                                  "team_id": "T1", "team": "Acme", "user": "supporthub"})
    return web.json_response({"ok": True})


async def twilio(request: web.Request) -> web.Response:
    params = await params_of(request)
    replies.append(("sms", str(params["To"]), str(params["Body"]), time.time()))
    sid = f"SM{next(ids):032x}"
    return web.json_response({"sid": sid, "to": params["To"], "from": params.get("From"),
                              "body": params["Body"], "status": "queued",
                              "account_sid": request.match_info["sid"],
                              "num_segments": "1", "direction": "outbound-api",
                              "api_version": "2010-04-01"}, status=201)


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"replies": replies})


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", telegram)
    app.router.add_route("*", "/api/{method}", slack)
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", twilio)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", lambda r: web.json_response({}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
