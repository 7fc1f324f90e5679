"""Passwords, agent sessions and signed web-chat visitor tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from pathlib import Path

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.errors import ApiError
from hub.model import Role, User
from hub.store import Store

SESSION_COOKIE = "supporthub_session"
_hasher = PasswordHasher()
# verifying against this when the email is unknown keeps the timing of both answers alike
_DUMMY_HASH = _hasher.hash("not a real password")


async def hash_password(password: str) -> str:
    """argon2id; run off the event loop (it takes tens of milliseconds on purpose)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def token_digest(token: str) -> str:
    """Sessions are stored by the SHA-256 of their token: a leaked table logs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(store: Store, user: User, ttl: int) -> str:
    token = secrets.token_urlsafe(32)
    await store.create_session(token_digest(token), user.id, time.time() + ttl)
    return token


def request_token(request: web.Request, *, allow_query: bool = False) -> str | None:
    """The session token of a request: ``Authorization: Bearer`` or the session cookie.

    ``?token=`` is read only where a browser cannot send a header — the WebSocket
    handshakes (``allow_query``); anywhere else a token in the URL is ignored, as URLs end
    up in proxy and access logs."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = request.cookies.get(SESSION_COOKIE)
    if not token and allow_query:
        token = request.query.get("token")
    return token or None


async def current_user(request: web.Request, store: Store, *,
                       allow_query: bool = False) -> User | None:
    token = request_token(request, allow_query=allow_query)
    if not token:
        return None
    return await store.session_user(token_digest(token), time.time())


async def require_user(request: web.Request, store: Store, role: Role | None = None, *,
                       allow_query: bool = False) -> User:
    user = await current_user(request, store, allow_query=allow_query)
    if user is None:
        raise ApiError(401, "log in first (session cookie or Authorization: Bearer <token>)")
    if role is Role.ADMIN and user.role is not Role.ADMIN:
        raise ApiError(403, "this needs an admin")
    return user


_ADMINS_ONLY = (
    "<!doctype html><meta charset=utf-8><title>supporthub — admins only</title>"
    "<h1>Admins only</h1><p>You are logged in as an agent; the admin pages need an admin "
    "account. <a href=/console>Back to the console</a></p>"
)


async def admin_page(request: web.Request, store: Store, page: Path) -> web.StreamResponse:
    """An admin page (``/admin``, ``/admin/agents``): an agent's session gets 403, like the
    API behind it; without a session the page is served, and its API calls get 401."""
    user = await current_user(request, store)
    if user is not None and user.role is not Role.ADMIN:
        return web.Response(status=403, text=_ADMINS_ONLY, content_type="text/html")
    response = web.FileResponse(page)
    response.headers["Cache-Control"] = "no-store"
    return response


class VisitorTokens:
    """``v1.<visitor id>.<HMAC-SHA256>``: a visitor can read only the thread of the id their
    token names, and cannot forge another id without the hub's secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("visitor-token:" + secret).encode()).digest()

    def _sign(self, visitor_id: str) -> str:
        mac = hmac.new(self._key, visitor_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self) -> tuple[str, str]:
        visitor_id = secrets.token_urlsafe(16)
        return visitor_id, f"v1.{visitor_id}.{self._sign(visitor_id)}"

    def verify(self, token: str | None) -> str | None:
        if not token:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            return None
        if hmac.compare_digest(self._sign(parts[1]), parts[2]):
            return parts[1]
        return None


class RateLimiter:
    """At most ``limit`` events per key (a client address) in a sliding ``window``;
    ``check`` refuses with 429 and ``message`` once a key is over. ``limit`` 0: no limit."""

    _PRUNE_AT = 10_000  # keys kept before idle ones are dropped

    def __init__(self, limit: int, message: str, window: float = 60.0) -> None:
        self._limit = limit
        self._message = message
        self._window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def check(self, key: str) -> None:
        events = self._events.get(key)
        if events is None or self._limit <= 0:
            return
        cutoff = time.monotonic() - self._window
        while events and events[0] < cutoff:
            events.popleft()
        if not events:
            del self._events[key]
        elif len(events) >= self._limit:
            raise ApiError(429, self._message)

    def hit(self, key: str) -> None:
        if self._limit <= 0:
            return
        if len(self._events) >= self._PRUNE_AT and key not in self._events:
            cutoff = time.monotonic() - self._window
            for idle in [k for k, ev in self._events.items() if not ev or ev[-1] < cutoff]:
                del self._events[idle]
        self._events[key].append(time.monotonic())


def login_limiter() -> RateLimiter:
    """At most 10 failed logins per client address in a sliding minute."""
    return RateLimiter(10, "too many failed logins; wait a minute")


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The client's address: the peer, or, when the peer is a trusted reverse proxy, the
    nearest address in ``X-Forwarded-For`` that is not one of the trusted proxies (the
    left-hand entries are whatever the client claimed, so they are never believed first).
    """
    remote = request.remote or "?"
    if remote not in trusted_proxies:
        return remote
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        if hop not in trusted_proxies:
            return hop
    return remote
