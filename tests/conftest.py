"""Shared fixtures: a real hub (aiohttp server, SQLite store on a temp file) per test."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.mail import ImapServer, ProviderSmtp
from fakes.telegram import FakeTelegram
from playwright.async_api import Browser, Page, async_playwright, expect

from bots.memory import MemoryChannel
from hub.app import create_app
from hub.auth import hash_password
from hub.config import Settings
from hub.core import HUB, Hub
from hub.model import Ingested, Role
from hub.store import Store, make_store
from hub.store.base import Accepted

PASSWORD = "correct horse battery"
TELEGRAM_TOKEN = "123456:TEST-token"  # the Telegram stand-in's bot (fixture ``fake``)


@dataclass
class Running:
    """One running hub, and ways to talk to it."""

    client: TestClient[Any, Any]
    memory: MemoryChannel
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def hub(self) -> Hub:
        return self.client.app[HUB]  # type: ignore[index]

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def add_user(self, email: str, role: Role = Role.AGENT, name: str | None = None) -> str:
        """Create a user and log them in; return their bearer token."""
        await self.hub.store.create_user(email, name or email.split("@")[0].title(), role,
                                         await hash_password(PASSWORD))
        resp = await self.client.post("/api/v1/auth/login",
                                      json={"email": email, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        token: str = (await resp.json())["token"]
        self.client.session.cookie_jar.clear()  # API calls authenticate with the token
        self.tokens[email] = token
        return token

    async def visitor(self) -> Visitor:
        resp = await self.client.post("/api/v1/webchat/sessions", json={})
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        return Visitor(self, body["visitor_token"], body["conversation_id"])

    async def settle(self) -> None:
        """Wait until routing in flight is done and the matcher includes every change."""
        await self.hub.knowledge.settled()
        await self.hub.pipeline.drain()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The Telegram Bot API stand-in (a module testing another platform overrides it)."""
    async with FakeTelegram(TELEGRAM_TOKEN) as platform:
        yield platform


def hold_intake(running: Running, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Hold every take-in from the intake journal until the returned event is set (the
    intake "behind", as during a burst): webhooks are still acknowledged meanwhile."""
    gate = asyncio.Event()
    store = running.hub.store
    take_in = store.take_in

    async def held(accepted: Accepted, *args: Any, **kwargs: Any) -> Ingested | None:
        await gate.wait()
        return await take_in(accepted, *args, **kwargs)

    monkeypatch.setattr(store, "take_in", held)
    return gate


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an agent's or a visitor's token."""
    return {"Authorization": f"Bearer {token}"}


async def call(running: Running, method: str, path: str, token: str,
               body: Any = None, status: int = 200) -> Any:
    """An API call with ``token``, asserting its status; the JSON body."""
    resp = await running.client.request(method, path, json=body, headers=bearer(token))
    assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
    return await resp.json()


async def admin_headers(running: Running) -> dict[str, str]:
    """Create the admin "Root" (root@example.com), log in, and return the header."""
    return bearer(await running.add_user("root@example.com", Role.ADMIN))


@dataclass
class Visitor:
    hub: Running
    token: str
    conversation_id: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def say(self, text: str, **extra: Any) -> dict[str, Any]:
        resp = await self.hub.client.post("/api/v1/webchat/messages",
                                          json={"text": text, **extra}, headers=self.headers)
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = (await resp.json())["message"]
        return body

    async def choose(self, article_id: int) -> dict[str, Any]:
        resp = await self.hub.client.post("/api/v1/webchat/messages",
                                          json={"choice": article_id}, headers=self.headers)
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = (await resp.json())["message"]
        return body

    async def messages(self, after: int | None = None) -> list[dict[str, Any]]:
        params = {"after": str(after)} if after is not None else {}
        resp = await self.hub.client.get("/api/v1/webchat/messages", params=params,
                                         headers=self.headers)
        assert resp.status == 200, await resp.text()
        body: list[dict[str, Any]] = (await resp.json())["messages"]
        return body

    async def ask(self, text: str, *, knowledge_settled: bool = True) -> dict[str, Any]:
        """Say something and return the bot's (or system's) answer to it; first the matcher
        takes in every knowledge change (``knowledge_settled=False``: it answers with the
        one in use, as while a rebuild is in flight)."""
        sent = await self.say(text)
        if knowledge_settled:
            await self.hub.hub.knowledge.settled()
        await self.hub.hub.pipeline.drain()
        replies = [m for m in await self.messages(after=sent["id"]) if m["author"] != "customer"]
        assert replies, f"no reply to {text!r}"
        return replies[0]


HubFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
async def start_hub(db_url: str) -> AsyncIterator[HubFactory]:
    """Start hubs on the test database; all are stopped at the end of the test."""
    running: list[TestClient[Any, Any]] = []

    async def start(run_outbox: bool = True, **settings: Any) -> Running:
        memory = MemoryChannel()
        values: dict[str, Any] = {"database_url": db_url, "demo": True,
                                  "outbox_base_delay": 0.05, **settings}
        app = create_app(Settings(**values), channels=[memory], run_outbox=run_outbox)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        running.append(client)
        return Running(client, memory)

    yield start
    for client in reversed(running):
        await client.close()


@pytest.fixture
async def hub(start_hub: HubFactory) -> Running:
    return await start_hub()


async def next_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0,
                     **match: Any) -> dict[str, Any]:
    """The next JSON frame whose top-level fields (and nested message/conversation fields,
    given as ``message__author='agent'``) equal ``match``."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, f"socket ended: {msg.type}"
            frame: dict[str, Any] = json.loads(msg.data)
            if all(_get(frame, key) == value for key, value in match.items()):
                return frame


def _get(frame: dict[str, Any], key: str) -> Any:
    value: Any = frame
    for part in key.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# PostgreSQL ---------------------------------------------------------------------------
# The real server (PRODUCT.md: 127.0.0.1:5432, user postgres, database test); each test
# gets a schema of its own, dropped afterwards. Unreachable: skipped, or failed when CI is set.
PG_BASE_URL = os.environ.get("SUPPORTHUB_TEST_PG_URL",
                             "postgresql://postgres@127.0.0.1:5432/test")
_pg_unreachable: list[str] = []  # the reason, remembered after the first try


async def _pg_admin() -> Any:
    import asyncpg

    if not _pg_unreachable:
        try:
            return await asyncpg.connect(PG_BASE_URL, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _pg_unreachable.append(f"{type(exc).__name__}: {exc}")
    reason = f"PostgreSQL at {PG_BASE_URL} is unreachable ({_pg_unreachable[0]})"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI is set, so this fails instead of skipping")
    pytest.skip(reason)


@asynccontextmanager
async def pg_schema(migrate: bool = True) -> AsyncIterator[str]:
    """The URL of a fresh schema (migrated unless told not to), dropped on exit."""
    from hub.store.postgres import PostgresStore

    admin = await _pg_admin()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    url = f"{PG_BASE_URL}?schema={schema}"
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        if migrate:
            store = PostgresStore(url)
            await store.open(migrate=True)
            await store.close()
        yield url
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL schema of this test's own; override ``db_url`` with it to run
    ``start_hub`` hubs on PostgreSQL (see test_webchat_flow_pg.py)."""
    async with pg_schema() as url:
        yield url


async def age_messages(running: Running, hours: float, channel: str | None = None) -> None:
    """Make the customers' messages (of ``channel``, or all) ``hours`` older, as if they
    wrote that long ago — in the hub's own database, on either engine (messaging windows)."""
    url = running.hub.settings.database_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10,
                             isolation_level=None) as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no stale read to upgrade
            for message_id, created, ch in db.execute(
                    "SELECT id, created_at, channel FROM messages WHERE direction = 'in'"
            ).fetchall():
                if channel is None or ch == channel:
                    older = datetime.fromisoformat(created) - timedelta(hours=hours)
                    db.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                               (older.isoformat(), message_id))
            db.execute("COMMIT")
        return
    import asyncpg

    parts = urlsplit(url)
    schema = parse_qs(parts.query)["schema"][0]
    conn = await asyncpg.connect(urlunsplit(parts._replace(query="")), timeout=5)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "UPDATE messages SET created_at = created_at - make_interval(secs => $1)"
            " WHERE direction = 'in' AND ($2::text IS NULL OR channel = $2)",
            hours * 3600.0, channel)
    finally:
        await conn.close()


# --- real headless Chromium (Debian's), driven by Playwright -----------------------------
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
# generous: CI shares two cores between the hub, Chromium and the test itself
expect.set_options(timeout=20_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian chromium is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        await launched.close()


async def new_page(browser: Browser, errors: list[str]) -> Page:
    """A page in a fresh context (its own cookies and storage); script errors go to
    ``errors``."""
    context = await browser.new_context()
    context.set_default_timeout(20_000)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


async def log_in(page: Page, hub: Running, email: str, path: str = "/console") -> None:
    """Log in through the login form of ``path`` (the console or an admin page)."""
    await page.goto(hub.url(path))
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()


# --- the store on both engines -----------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
async def any_engine_db_url(request: pytest.FixtureRequest,
                            tmp_path: Path) -> AsyncIterator[str]:
    """A database for hubs of either engine: a temp SQLite file, or a fresh migrated schema
    on the real PostgreSQL. A module runs its hubs on both by overriding ``db_url`` with it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    async with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty (unmigrated) database of either engine: SQLite on a temp file, or a fresh
    schema on the real PostgreSQL (skipped without one, failed under ``CI``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    async with pg_schema(migrate=False) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated, open store of either engine."""
    opened = make_store(store_url)
    await opened.open(migrate=True)
    yield opened
    await opened.close()


# --- mail: a provider's SMTP server (aiosmtpd) and an IMAP server (pymap) on 127.0.0.1 ---
@pytest.fixture
async def provider() -> AsyncIterator[ProviderSmtp]:
    server = ProviderSmtp()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def imap() -> AsyncIterator[ImapServer]:
    server = ImapServer()
    await server.start()
    yield server
    await server.stop()
