"""A stand-in for the Telegram Bot API (``<root>/bot<token>/<method>``), and updates in the
documented format (https://core.telegram.org/bots/api#update)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import web

from fakes import Failure, FakePlatform

BOT = {"id": 7000001, "is_bot": True, "first_name": "Acme Support",
       "username": "acme_support_bot"}


def rate_limited(retry_after: int = 1) -> Failure:
    return Failure(429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {retry_after}",
                         "parameters": {"retry_after": retry_after}})


def blocked() -> Failure:
    return Failure(403, {"ok": False, "error_code": 403,
                         "description": "Forbidden: bot was blocked by the user"})


def server_error() -> Failure:
    return Failure(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})


class FakeTelegram(FakePlatform):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._message_ids = itertools.count(5000)
        self.app.router.add_route("*", "/bot{token}/{method}", self.handle)

    def queue_update(self, update: dict[str, Any]) -> None:
        """For polling mode: the next getUpdates returns it."""
        self.updates.append(update)
        self._new_update.set()

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        call, failure = await self.record(method, request)
        if failure is not None:
            return failure.response()
        params = call.params
        if method == "getMe":
            return _ok(BOT)
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            return _ok({"message_id": next(self._message_ids), "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                        "from": BOT, "text": params["text"]})
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return _ok(True)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"},
                                 status=404)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            pending = [u for u in self.updates if u["update_id"] >= offset]
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0:
                return pending
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                pass

    def sent(self) -> list[dict[str, Any]]:
        """The sendMessage calls' parameters, reply_markup decoded."""
        out = []
        for call in self.calls_to("sendMessage"):
            params = dict(call.params)
            if isinstance(params.get("reply_markup"), str):
                params["reply_markup"] = json.loads(params["reply_markup"])
            out.append(params)
        return out


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


# updates ----------------------------------------------------------------------------
_update_ids = itertools.count(900001)
_message_ids = itertools.count(100)


def user(user_id: int = 42, first_name: str = "Jane") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "last_name": "Doe",
            "username": "jane_doe", "language_code": "en"}


def private_chat(user_id: int = 42) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "Jane", "last_name": "Doe"}


def message_update(text: str | None = None, user_id: int = 42, chat: dict[str, Any] | None = None,
                   message_id: int | None = None, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id or next(_message_ids), "date": int(time.time()),
        "from": user(user_id), "chat": chat or private_chat(user_id), **fields,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
    return {"update_id": next(_update_ids), "message": message}


def edited_update(original: dict[str, Any], text: str) -> dict[str, Any]:
    message = {**original["message"], "text": text, "edit_date": int(time.time()) + 5}
    return {"update_id": next(_update_ids), "edited_message": message}


def callback_update(keyboard_message: dict[str, Any], button: dict[str, Any],
                    user_id: int = 42) -> dict[str, Any]:
    """A press of ``button`` on the bot's message (as sendMessage returned it)."""
    return {"update_id": next(_update_ids), "callback_query": {
        "id": f"cbq{next(_message_ids)}", "from": user(user_id),
        "chat_instance": "-123456", "data": button["callback_data"],
        "message": keyboard_message,
    }}


def photo_update(caption: str | None = None, user_id: int = 42) -> dict[str, Any]:
    sizes = [{"file_id": f"AgACphoto{n}", "file_unique_id": f"uniq{n}", "width": w,
              "height": w, "file_size": w * 100} for n, w in enumerate((90, 320, 1280))]
    extra: dict[str, Any] = {"photo": sizes}
    if caption:
        extra["caption"] = caption
    return message_update(None, user_id, **extra)


def voice_update(user_id: int = 42) -> dict[str, Any]:
    return message_update(None, user_id, voice={
        "file_id": "AwACvoice1", "file_unique_id": "uvoice1", "duration": 7,
        "mime_type": "audio/ogg"})


def json_body(update: dict[str, Any]) -> str:
    return json.dumps(update)
