"""Telegram, through python-telegram-bot's ``Bot`` (held, never subclassed).

Inbound: the webhook ``POST /webhooks/telegram`` (its secret-token header checked in
constant time before the body is read), or long polling (``SUPPORTHUB_TELEGRAM_MODE=polling``)
for running without a public URL; both hand updates to the same code. Outbound: HTML
messages, suggestions as an inline keyboard whose presses come back as ``callback_query``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import warnings
from datetime import timedelta

from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bots import render
from bots.base import Channel, DeliveryError, OnAccept, OnMessage, PermanentFailure, RetryLater
from bots.telegram_inbound import (
    CALLBACK_PREFIX,
    CHANNEL,
    GROUPS,
    RATING_PREFIX,
    BotIdentity,
    Choice,
    read_plain_text,
    read_update,
)
from bots.telegram_request import AiohttpRequest
from hub import metrics
from hub.config import Settings
from hub.model import InboundMessage, OutboxItem
from hub.store import Store

log = logging.getLogger(__name__)
# PTB 22 is moving durations (RetryAfter.retry_after) from int to timedelta and warns on every
# read unless opted in; _seconds() reads either
os.environ.setdefault("PTB_TIMEDELTA", "true")

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# a chat that no longer exists for the bot: replies there can never be delivered
_GONE = ("chat not found", "user not found", "peer_id_invalid", "bot was kicked",
         "not enough rights", "chat_write_forbidden", "have no rights")


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one derived from the token (so ``set-webhook`` and the hub
    agree without another setting). Telegram allows ``A-Z a-z 0-9 _ -``, up to 256."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    digest = hashlib.sha256(f"supporthub telegram webhook {settings.telegram_token}".encode())
    return digest.hexdigest()


def make_bot(settings: Settings) -> Bot:
    """PTB's Bot on aiohttp (``bots/telegram_request.py``), not its default httpx transport."""
    root = settings.telegram_api_url.rstrip("/")
    return Bot(settings.telegram_token, base_url=f"{root}/bot",
               base_file_url=f"{root}/file/bot", request=AiohttpRequest(),
               get_updates_request=AiohttpRequest(connections=1))


async def register_webhook(settings: Settings, drop_pending: bool = False) -> str:
    """Point Telegram at ``SUPPORTHUB_PUBLIC_URL`` + ``/webhooks/telegram``; return that URL."""
    if not settings.telegram_token:
        raise ValueError("SUPPORTHUB_TELEGRAM_TOKEN is not set")
    if not settings.public_url.startswith("https://"):
        raise ValueError("SUPPORTHUB_PUBLIC_URL must be the hub's public https:// URL")
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    async with make_bot(settings) as bot:
        await bot.set_webhook(url, secret_token=webhook_secret(settings),
                              allowed_updates=list(ALLOWED_UPDATES),
                              drop_pending_updates=drop_pending)
    return url


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._secret = webhook_secret(settings).encode()
        self._bot = make_bot(settings)
        self._me: BotIdentity | None = None
        self._accept: OnAccept | None = None
        self._poller: asyncio.Task[None] | None = None
        self._identifier: asyncio.Task[None] | None = None

    # lifecycle ---------------------------------------------------------------
    def routes(self, on_message: OnMessage, accept: OnAccept) -> list[web.AbstractRouteDef]:
        self._accept = accept
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        # getMe in the background: an unreachable Telegram must neither delay the hub's
        # start nor the acknowledgement of webhooks
        self._identifier = asyncio.create_task(self._identify_until_known(),
                                               name="telegram-identify")
        if self._settings.telegram_mode == "polling":
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        for task in (self._poller, self._identifier):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._bot.shutdown()

    @property
    def username(self) -> str | None:
        """The bot's username (without "@") once getMe has answered; for deep links."""
        return self._me.username if self._me is not None else None

    async def _identify_until_known(self) -> None:
        delay = 1.0
        while await self._identify() is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _identify(self) -> BotIdentity | None:
        """Who the bot is (for group mentions), or None while Telegram is unreachable."""
        if self._me is None:
            try:
                await self._bot.initialize()
                self._me = BotIdentity(self._bot.id, self._bot.username)
            except TelegramError as exc:
                log.warning("telegram: getMe failed (%s); will retry", exc)
        return self._me

    # inbound -----------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            metrics.WEBHOOK_VERIFICATION_FAILURES.labels(CHANNEL).inc()
            return web.json_response({"error": {"code": "forbidden", "message":
                                      "bad or missing secret token"}}, status=403)
        try:
            data = json.loads(await request.read())
            plain = read_plain_text(data) if isinstance(data, dict) else None
            update = Update.de_json(data, self._bot) if plain is None else None
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.json_response({"error": {"code": "bad_request", "message":
                                      "not a Telegram update"}}, status=400)
        if plain is not None:
            await self._received(plain)
        elif update is not None:
            await self.handle(update)
        return web.Response(body=b"{}", content_type="application/json")

    async def _received(self, message: InboundMessage) -> None:
        if self._accept is None:
            raise RuntimeError("the Telegram channel is not attached to a hub")
        await self._accept(message)

    async def handle(self, update: Update) -> None:
        """Commit what the update says (then the platform may be acknowledged)."""
        if self._accept is None:
            raise RuntimeError("the Telegram channel is not attached to a hub")
        me = self._me
        chat = update.effective_chat
        if me is None and chat is not None and chat.type in GROUPS:
            me = await self._identify()  # only a group needs it: was the bot mentioned?
        read = read_update(update, me)
        if isinstance(read, Choice):
            await self._accept(await self._choice_message(read))
            with contextlib.suppress(TelegramError):  # only stops the button's spinner
                await self._bot.answer_callback_query(read.callback_query_id)
        elif read is not None:
            await self._accept(read)
            if update.callback_query is not None:  # a survey button
                with contextlib.suppress(TelegramError):
                    await self._bot.answer_callback_query(update.callback_query.id)

    async def _choice_message(self, choice: Choice) -> InboundMessage:
        title = choice.title
        if title is None:
            article = await self._store.get_article(choice.article_id)
            title = article.title if article is not None else f"#{choice.article_id}"
        return InboundMessage(CHANNEL, choice.chat_id, title,
                              platform_message_id=f"cb:{choice.callback_query_id}",
                              display_name=choice.display_name,
                              choice_article_id=choice.article_id)

    async def _poll(self) -> None:
        """Long polling: the offset moves past an update only once it is committed."""
        timeout = self._settings.telegram_poll_timeout
        offset: int | None = None
        delay = 1.0
        webhook_removed = False
        while True:
            try:
                if not webhook_removed:  # getUpdates is refused while a webhook is set
                    await self._bot.delete_webhook()
                    webhook_removed = True
                updates = await self._bot.get_updates(
                    offset=offset, timeout=timeout, read_timeout=timeout + 10,
                    allowed_updates=list(ALLOWED_UPDATES))
                for update in updates:
                    await self.handle(update)
                    offset = update.update_id + 1
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("telegram: the token was rejected; polling stopped")
                return
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc))
            except Exception:
                log.exception("telegram: polling failed; retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    # outbound ----------------------------------------------------------------
    async def send(self, reply: OutboxItem) -> str | None:
        chat_id: int | str = int(reply.recipient) if reply.recipient.lstrip("-").isdigit() \
            else reply.recipient
        chunks = _chunks(reply)
        markup = None
        if reply.suggestions:
            markup = InlineKeyboardMarkup([
                [InlineKeyboardButton(s.title, callback_data=f"{CALLBACK_PREFIX}{s.article_id}")]
                for s in reply.suggestions
            ])
        elif "csat" in reply.marks:  # the satisfaction survey: five buttons in a row
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton(str(n), callback_data=f"{RATING_PREFIX}{n}")
                for n in range(1, 6)]])
        message_id: str | None = None
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            try:
                sent = await self._bot.send_message(
                    chat_id, chunk, parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None)
            except TelegramError as exc:
                raise _delivery_error(exc) from exc
            message_id = str(sent.message_id)
        return message_id


def _chunks(reply: OutboxItem) -> list[str]:
    """The reply as Telegram HTML, in messages within Telegram's 4096 characters. The source
    is cut (at a line or a space) before rendering, so no HTML tag is ever split."""
    head = f"<b>{render.telegram_html(reply.agent_name)}</b>\n" if reply.agent_name else ""
    rendered = head + render.telegram_html(reply.text)
    if len(rendered) <= MessageLimit.MAX_TEXT_LENGTH:
        return [rendered]
    parts = [render.telegram_html(part) for part in _cut(reply.text, 3500)]
    return [head + parts[0], *parts[1:]]


def _cut(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at a line break or a space."""
    pieces: list[str] = []
    while len(text) > size:
        at = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
        at = at if at > size // 2 else size
        pieces.append(text[:at])
        text = text[at:].lstrip()
    return [*pieces, text] if text else pieces


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 moves retry_after from int to timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _delivery_error(exc: TelegramError) -> DeliveryError:
    """Telegram's answer, as the outbox's: retry, or give up (and whether the chat is gone)."""
    if isinstance(exc, RetryAfter):
        return RetryLater(f"telegram flood control: {exc}", retry_after=_seconds(exc))
    if isinstance(exc, Forbidden):  # blocked by the user, kicked from the group
        return PermanentFailure(f"telegram: {exc.message}")
    if isinstance(exc, InvalidToken):  # revoked: no reply can go out, the chat is fine
        return PermanentFailure(f"telegram: the bot token was rejected: {exc.message}",
                                unreachable=False)
    if isinstance(exc, ChatMigrated):
        return PermanentFailure(f"telegram: the group moved to chat {exc.new_chat_id}")
    if isinstance(exc, BadRequest):
        gone = any(marker in exc.message.lower() for marker in _GONE)
        return PermanentFailure(f"telegram: {exc.message}", unreachable=gone)
    return RetryLater(f"telegram: {exc.message}")  # NetworkError, TimedOut, 5xx
