"""SMS and WhatsApp through Twilio: one module, one SDK ``Client``, two channel names.

Inbound ``POST /webhooks/twilio/sms`` (both channels: a ``whatsapp:`` sender is WhatsApp) and
``POST /webhooks/twilio/status`` (delivery reports) are verified with the SDK's
``RequestValidator`` against ``SUPPORTHUB_PUBLIC_URL`` + path, so they work behind a reverse
proxy. Inbound messages are committed and answered with empty TwiML; every reply, the
bot's and the agents', goes out through the outbox with ``messages.create_async``.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientError, web
from multidict import MultiDictProxy
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bots import twilio_http
from bots.base import (
    Channel,
    DeliveryError,
    GatewayChannel,
    OnAccept,
    PermanentFailure,
    RetryLater,
)
from bots.twilio_inbound import (
    KEYWORD_REPLIES,
    SMS,
    WHATSAPP,
    Keyword,
    address,
    channel_and_number,
    choice_number,
    keyword,
    keyword_mark,
    media,
    render_reply,
)
from handoff.reach import sender
from handoff.windows import Mode, window
from hub import marks, metrics
from hub.config import Settings
from hub.model import Author, InboundMessage, OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
# Twilio error codes after which no message to that number can be delivered
_UNREACHABLE = frozenset({21211, 21214, 21217, 21612, 21614, 30003, 30005, 30006, 63003,
                          63024})
_OPTED_OUT = 21610  # the number replied STOP (Twilio's Advanced Opt-Out)
_WINDOW_CLOSED = 63016  # outside the WhatsApp customer-service window: a template is needed
TEMPLATE_NEEDED = "whatsapp: template needed"
# Twilio errors after which we may not write to that number from our sender (consent)
_SUPPRESSING = {_OPTED_OUT: "opted out (Twilio 21610: unsubscribed recipient)",
                63014: "blocked the business (WhatsApp, Twilio 63014)"}
_FAILED = frozenset({"failed", "undelivered"})


_NOTHING_TO_SAY = str(MessagingResponse())  # the usual answer: built once, not per message


class TwilioGateway:
    """The SDK client and the webhooks, shared by the ``sms`` and ``whatsapp`` channels."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._validator = RequestValidator(settings.twilio_auth_token)
        self._client: Client | None = None
        self._http: twilio_http.RedirectingHttpClient | None = None
        self._accept: OnAccept | None = None

    def routes(self, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._accept = accept
        return [web.post(INBOUND_PATH, self.inbound), web.post(STATUS_PATH, self.status)]

    async def start(self) -> None:
        if self._client is None:  # the SDK's aiohttp session wants a running loop
            self._http = twilio_http.RedirectingHttpClient(self._settings.twilio_api_url)
            self._client = Client(self._settings.twilio_account_sid,
                                  self._settings.twilio_auth_token, http_client=self._http)
            # the SDK imports its REST modules on first use: a 75 ms stall of the event
            # loop in the middle of traffic, unless it happens here
            _ = self._client.messages
        if not self._settings.public_url:
            log.warning("twilio: SUPPORTHUB_PUBLIC_URL is not set, so no webhook can be "
                        "verified: every inbound SMS/WhatsApp request will be refused")

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None

    # inbound -------------------------------------------------------------------
    async def _verified_form(self, request: web.Request) -> MultiDictProxy[Any] | None:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature or not self._settings.public_url:
            return None
        form = await request.post()  # the signature covers the form fields
        url = self._settings.public_url.rstrip("/") + request.path_qs
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        if self._signed_exactly(url, form, signature, algorithm):
            return form
        if not self._validator.validate(url, form, signature, algorithm):
            return None
        return form

    def _signed_exactly(self, url: str, form: MultiDictProxy[Any], signature: str,
                        algorithm: str | None) -> bool:
        """The SDK's own signature over exactly ``url`` (the URL Twilio was given): one HMAC.
        ``validate`` computes two, for the URL with and without its port; it still decides
        any request this does not accept, so nothing it refuses gets in."""
        try:
            expected = self._validator.compute_signature(url, form, algorithm)
        except ValueError:  # an algorithm the SDK does not know: validate() refuses it
            return False
        return hmac.compare_digest(expected.encode(), signature.encode())

    async def inbound(self, request: web.Request) -> web.Response:
        form = await self._verified_form(request)
        if form is None:
            return _forbidden()
        sid, sender = str(form.get("MessageSid") or ""), str(form.get("From") or "")
        if not sid or not sender:
            return web.json_response({"error": {"code": "invalid", "message":
                                      "MessageSid and From are required"}}, status=422)
        if self._accept is None:
            raise RuntimeError("the Twilio channels are not attached to a hub")
        channel, number = channel_and_number(sender)
        body = str(form.get("Body") or "")
        kind = keyword(body)
        if kind is not None:  # the message first, then what it changes
            await self._accept(self._message(channel, number, sid, body, form,
                                                 keyword_mark(kind)))
            if kind is Keyword.OPT_OUT:
                await self._consent(channel, number, False, f"opted out (replied {body.strip()})")
            elif kind is Keyword.OPT_IN:
                await self._consent(channel, number, True, f"opted in (replied {body.strip()})")
                await self._store.set_identity_status(channel, number, opted_out=False,
                                                      reachable=True)
        else:
            inbound = await self._choice(channel, number, sid, body) or self._message(
                channel, number, sid, body, form)
            await self._accept(inbound)
        # Twilio answers SMS keywords itself (Advanced Opt-Out); WhatsApp it does not
        if kind is not None and (channel == WHATSAPP or self._settings.twilio_keyword_replies):
            reply = MessagingResponse()
            reply.message(KEYWORD_REPLIES[kind])
            return web.Response(text=str(reply), content_type="text/xml")
        return web.Response(text=_NOTHING_TO_SAY, content_type="text/xml")

    def _message(self, channel: str, number: str, sid: str, body: str,
                 form: MultiDictProxy[Any], tags: list[str] | None = None) -> InboundMessage:
        attachments = media(form)
        tags = [*(tags or []), *(marks.mark(a["kind"]) for a in attachments)]
        extras: dict[str, Any] = {"to": str(form.get("To") or "")}
        if attachments:
            extras["attachments"] = attachments
        for field in ("FromCountry", "FromCity", "ProfileName", "WaId"):
            if form.get(field):
                extras[field] = str(form.get(field))
        name = str(form.get("ProfileName") or "") or None  # WhatsApp's profile name
        return InboundMessage(channel, number, marks.marked_text(tags, body.strip()),
                              marks=marks.tag_names(tags), platform_message_id=sid,
                              display_name=name, extras=extras)

    async def _choice(self, channel: str, number: str, sid: str,
                      body: str) -> InboundMessage | None:
        """"2" picks the second suggestion of the last thing the hub said, if the bot said it
        with suggestions; otherwise it is just the text "2"."""
        n = choice_number(body)
        if n is None:
            return None
        conversation = await self._store.find_conversation(channel, number)
        if conversation is None:
            return None
        recent = await self._store.list_messages(conversation.id, limit=20,
                                                 include_private=False)
        said = [m for m in recent if m.direction == "out"]
        if not said or said[-1].author is not Author.BOT or n > len(said[-1].suggestions):
            return None
        picked = said[-1].suggestions[n - 1]
        return InboundMessage(channel, number, picked.title, platform_message_id=sid,
                              choice_article_id=picked.article_id, extras={"reply": body})

    async def status(self, request: web.Request) -> web.Response:
        form = await self._verified_form(request)
        if form is None:
            return _forbidden()
        sid, state = str(form.get("MessageSid") or ""), str(form.get("MessageStatus") or "")
        if sid and state:
            channel, number = channel_and_number(str(form.get("To") or ""))
            await self._store.record_delivery_status(channel, sid, state)
            code = _int(form.get("ErrorCode"))
            if state in _FAILED and code in _SUPPRESSING:
                await self._consent(channel, number, False, _SUPPRESSING[code])
            elif state in _FAILED and code in _UNREACHABLE:
                await self._store.set_identity_status(channel, number, reachable=False)
            elif state in _FAILED and code == _WINDOW_CLOSED:
                conversation = await self._store.find_conversation(channel, number)
                if conversation is not None:
                    await self._store.close_window(conversation.id, channel)
        return web.Response(status=204)

    # outbound ------------------------------------------------------------------
    async def _consent(self, channel: str, number: str, allowed: bool, reason: str) -> None:
        """The consent record of this number for our sender (handoff/reach.py)."""
        await self._store.set_consent(channel, number, sender(channel, self._settings),
                                      allowed=allowed, reason=reason)

    async def send(self, channel: str, reply: OutboxItem) -> str | None:
        if channel == WHATSAPP and reply.template is None:
            await self._check_whatsapp_window(reply)
        if self._client is None:
            raise RetryLater("twilio: the client is not started")
        sender = self._settings.twilio_from
        params: dict[str, Any] = {"to": address(channel, reply.recipient)}
        if reply.template is not None:  # a Content template: ContentSid, never Body
            params["content_sid"] = reply.template.content_sid
            if reply.template.variables:
                params["content_variables"] = json.dumps(dict(reply.template.variables))
        else:
            params["body"] = render_reply(reply, channel, self._settings.sms_max_segments)
        if sender.startswith("MG"):
            params["messaging_service_sid"] = sender
        else:
            params["from_"] = address(channel, sender.removeprefix("whatsapp:"))
        if self._settings.public_url:
            params["status_callback"] = self._settings.public_url.rstrip("/") + STATUS_PATH
        seen: list[Any] = []
        token = twilio_http.responses.set(seen)
        try:
            message = await self._client.messages.create_async(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            error = _delivery_error(channel, exc, seen[-1].headers if seen else None)
            code = _code(exc)
            if code in _SUPPRESSING:
                await self._consent(channel, reply.recipient, False, _SUPPRESSING[code])
            if code == _WINDOW_CLOSED:  # Twilio's clock says the window is closed
                await self._store.close_window(reply.conversation_id, channel)
                raise PermanentFailure(f"{TEMPLATE_NEEDED}: {error}", unreachable=False) \
                    from exc
            raise error from exc
        except (ClientError, TimeoutError) as exc:
            raise RetryLater(f"{channel}: {type(exc).__name__}: {exc}") from exc
        finally:
            twilio_http.responses.reset(token)
        return message.sid


    async def _check_whatsapp_window(self, reply: OutboxItem) -> None:
        """Free-form WhatsApp text only within 24 hours of the customer's last message;
        after that only a template (the outbox keeps the reply as a dead letter saying so)."""
        facts = await self._store.customer_windows(reply.conversation_id)
        last = next((f.last_open for f in facts if f.channel == WHATSAPP), None)
        now = datetime.now(UTC)
        if window(WHATSAPP, last, now, False).mode(by_agent=True) is not Mode.FREE:
            since = f"last wrote {last:%Y-%m-%d %H:%M} UTC" if last else "never wrote here"
            raise PermanentFailure(f"{TEMPLATE_NEEDED}: the 24-hour WhatsApp window is closed "
                                   f"(the customer {since})", unreachable=False)


def twilio_channels(settings: Settings, store: Store) -> list[Channel]:
    gateway = TwilioGateway(settings, store)
    return [GatewayChannel(SMS, gateway, serves_webhooks=True),
            GatewayChannel(WHATSAPP, gateway, serves_webhooks=False)]


def _forbidden() -> web.Response:
    metrics.WEBHOOK_VERIFICATION_FAILURES.labels("twilio").inc()
    return web.json_response({"error": {"code": "forbidden", "message":
                              "missing or wrong X-Twilio-Signature"}}, status=403)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _code(exc: TwilioRestException | TwilioServiceException) -> int | None:
    return _int(exc.code)


def _delivery_error(channel: str, exc: TwilioRestException | TwilioServiceException,
                    headers: Any) -> DeliveryError:
    status, code = int(exc.status), _code(exc)
    message = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(
        exc, "title", "")
    text = f"{channel}: Twilio HTTP {status}, error {code}: {message}"
    if status == 429 or code == 20429:
        retry_after = headers.get("Retry-After") if headers is not None else None
        return RetryLater(text, retry_after=_float(retry_after))
    if status >= 500:
        return RetryLater(text)
    return PermanentFailure(text, unreachable=code in _UNREACHABLE)


def _float(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None
