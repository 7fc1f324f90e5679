"""A stand-in for Twilio's REST API (``/2010-04-01/Accounts/<sid>/Messages.json``), and
messaging webhooks in Twilio's documented format, signed with the SDK's RequestValidator."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from fakes import Failure, FakePlatform

_sids = itertools.count(1)


def rate_limited(retry_after: int = 1) -> Failure:
    return Failure(429, {"code": 20429, "message": "Too Many Requests",
                         "more_info": "https://www.twilio.com/docs/errors/20429",
                         "status": 429}, {"Retry-After": str(retry_after)})


def server_error() -> Failure:
    return Failure(503, {"code": 20500, "message": "Service unavailable", "status": 503})


def invalid_number() -> Failure:
    return Failure(400, {"code": 21211, "message": "Invalid 'To' Phone Number",
                         "more_info": "https://www.twilio.com/docs/errors/21211",
                         "status": 400})


class FakeTwilio(FakePlatform):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        secret = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._authorization = f"Basic {secret}"
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self._authorization \
                or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate",
                                      "status": 401}, status=401)
        call, failure = await self.record("Messages", request)
        if failure is not None:
            return failure.response()
        sid = f"SM{next(_sids):032x}"
        params = call.params
        return web.json_response({
            "sid": sid, "account_sid": self.account_sid, "to": params.get("To"),
            "from": params.get("From"), "messaging_service_sid":
            params.get("MessagingServiceSid"), "body": params.get("Body"), "status": "queued",
            "num_segments": "1", "num_media": "0", "direction": "outbound-api",
            "api_version": "2010-04-01", "date_created": "Thu, 01 Jan 2026 00:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }, status=201)

    def bodies(self) -> list[str]:
        return [str(c.params.get("Body")) for c in self.calls_to("Messages")]


def incoming(body: str, sender: str = "+15551230001", to: str = "+15550009999",
             sid: str | None = None, media: tuple[tuple[str, str], ...] = (),
             account_sid: str = "AC" + "0" * 32) -> dict[str, str]:
    """An incoming message webhook's form fields (SMS, MMS or ``whatsapp:`` sender)."""
    sid = sid or f"{'MM' if media else 'SM'}{next(_sids):032x}"
    fields = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": str(len(media)),
        "ToCity": "", "FromZip": "94105", "SmsSid": sid, "FromState": "CA",
        "SmsStatus": "received", "FromCity": "SAN FRANCISCO", "Body": body,
        "FromCountry": "US", "To": to, "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": account_sid, "From": sender, "ApiVersion": "2010-04-01",
    }
    if sender.startswith("whatsapp:"):
        fields.update({"ProfileName": "Jane", "WaId": sender.removeprefix("whatsapp:+"),
                       "To": f"whatsapp:{to}"})
    for index, (url, content_type) in enumerate(media):
        fields[f"MediaUrl{index}"] = url
        fields[f"MediaContentType{index}"] = content_type
    return fields


def status_callback(message_sid: str, status: str, to: str = "+15551230001",
                    error_code: str | None = None) -> dict[str, str]:
    fields = {"MessageSid": message_sid, "SmsSid": message_sid, "MessageStatus": status,
              "SmsStatus": status, "To": to, "From": "+15550009999",
              "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01"}
    if error_code:
        fields["ErrorCode"] = error_code
    return fields


def signature(auth_token: str, url: str, fields: dict[str, Any]) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, fields))
