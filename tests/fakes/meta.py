"""A stand-in for Meta's Graph API Send endpoint (``POST /<version>/me/messages``), and
Messenger/Instagram webhooks in Meta's documented shape, signed as Meta signs them."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from aiohttp import web

from fakes import Failure, FakePlatform

VERSION = "v26.0"
PAGE_ID = "1000000000001"
IG_ID = "17841400000000001"
_mids = itertools.count(1)


def graph_error(status: int, code: int, message: str, subcode: int | None = None,
                transient: bool = False, headers: dict[str, str] | None = None) -> Failure:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return Failure(status, {"error": error}, headers or {})


def rate_limited() -> Failure:
    return graph_error(400, 613, "Calls to this api have exceeded the rate limit.")


def temporary() -> Failure:
    return graph_error(500, 2, "An unexpected error has occurred. Please retry your request "
                       "later.", transient=True)


def outside_window() -> Failure:
    return graph_error(400, 10, "This message is sent outside of allowed window.",
                       subcode=2018278)


def unavailable() -> Failure:
    return graph_error(400, 551, "This person isn't available right now.", subcode=1545041)


def bad_token() -> Failure:
    return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")


class FakeGraph(FakePlatform):
    """Answers the Send API for the given tokens (others get error 190, as Meta does)."""

    def __init__(self, *tokens: str) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.app.router.add_post("/{version}/me/messages", self.send)

    @property
    def api_url(self) -> str:
        return self.url(f"/{VERSION}")

    async def send(self, request: web.Request) -> web.Response:
        call, failure = await self.record("messages", request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return bad_token().response()
        if failure is not None:
            return failure.response()
        recipient = call.params.get("recipient", {}).get("id")
        if not recipient or "message" not in call.params:
            return graph_error(400, 100, "(#100) The parameter recipient is required").response()
        text = call.params["message"].get("text", "")
        if len(text) > 2000:
            return graph_error(400, 100, "(#100) Length of param message[text] must be less "
                               "than or equal to 2000").response()
        return web.json_response({"recipient_id": recipient,
                                  "message_id": f"m_{next(_mids):020d}"})

    def sent(self) -> list[dict[str, Any]]:
        """The bodies Meta accepted (calls that were not answered with an error)."""
        return [c.params for c in self.calls_to("messages")]

    def token_of(self, index: int) -> str:
        return self.calls_to("messages")[index].headers["Authorization"].removeprefix("Bearer ")


# webhooks ---------------------------------------------------------------------------------
def now_ms() -> int:
    return int(time.time() * 1000)


def text_event(text: str, sender: str = "PSID-1", mid: str | None = None,
               owner: str = PAGE_ID, **message: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": owner}, "timestamp": now_ms(),
            "message": {"mid": mid or f"m_in{next(_mids):018d}", "text": text, **message}}


def quick_reply_event(title: str, payload: str, sender: str = "PSID-1",
                      owner: str = PAGE_ID) -> dict[str, Any]:
    return text_event(title, sender, owner=owner, quick_reply={"payload": payload})


def echo_event(text: str, sender: str = "PSID-1", owner: str = PAGE_ID) -> dict[str, Any]:
    """Meta echoes what the Page sent: sender is the Page, ``is_echo`` true."""
    return {"sender": {"id": owner}, "recipient": {"id": sender}, "timestamp": now_ms(),
            "message": {"mid": f"m_out{next(_mids):017d}", "text": text, "is_echo": True,
                        "app_id": 1234}}


def postback_event(title: str, payload: str, sender: str = "PSID-1",
                   referral: dict[str, Any] | None = None) -> dict[str, Any]:
    postback: dict[str, Any] = {"mid": f"m_pb{next(_mids):018d}", "title": title,
                                "payload": payload}
    if referral is not None:
        postback["referral"] = referral
    return {"sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
            "postback": postback}


def referral_event(ref: str, sender: str = "PSID-1") -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
            "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}}


def read_event(sender: str = "PSID-1") -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
            "read": {"watermark": now_ms()}}


def body(*events: dict[str, Any], kind: str = "page", owner: str | None = None,
         entries: int = 1) -> bytes:
    """A webhook POST body: ``events`` spread over ``entries`` entries."""
    owner = owner or (PAGE_ID if kind == "page" else IG_ID)
    groups: list[list[dict[str, Any]]] = [[] for _ in range(entries)]
    for index, event in enumerate(events):
        groups[index % entries].append(event)
    return json.dumps({"object": kind, "entry": [
        {"id": owner, "time": now_ms(), "messaging": group} for group in groups]}).encode()


def signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def sha1_signature(secret: str, raw: bytes) -> str:
    """The retired ``X-Hub-Signature`` form: not accepted any more."""
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
