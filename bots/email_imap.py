"""Reading a mailbox over IMAP (aioimaplib): IDLE when the server has it, polling when not.

Never a search by date (Chatwoot #14983): the reader remembers the last UID it committed per
mailbox with the mailbox's UIDVALIDITY, and asks only for UIDs above it. With no cursor yet
(or a new UIDVALIDITY, which invalidates every UID) it reads the unseen mail. A mail is
fetched with ``BODY.PEEK[]`` (which leaves it unread), committed, and only then marked
``\\Seen``: a crash in between reads it again, and the store keeps it once (Message-ID).
A mail over the size limit is left unread, skipped and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import aioimaplib

from bots.email_transport import ServerUrl

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[None]]
Oversize = Callable[[int, int], Awaitable[None]]  # (uid, size)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")
RECONNECT_MAX_SECONDS = 60.0


class ImapError(Exception):
    """The server said NO or BAD, or the connection is not usable."""


class MailboxCursors(Protocol):
    """Where the last committed UID of each mailbox is remembered."""

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID) or None."""

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None: ...


class MemoryCursors:
    """Cursors for one process's lifetime (tests, and a hub whose store keeps none)."""

    def __init__(self) -> None:
        self.cursors: dict[str, tuple[int, int]] = {}

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        return self.cursors.get(mailbox)

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        self.cursors[mailbox] = (uidvalidity, last_uid)


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {response.lines[-1:]!r}")
    return response


def literals(lines: list[bytes | bytearray]) -> list[tuple[bytes, bytes]]:
    """(the FETCH line that announced a literal, the literal) from a FETCH response."""
    found: list[tuple[bytes, bytes]] = []
    for index, line in enumerate(lines):
        if isinstance(line, bytes) and _LITERAL.search(line) and index + 1 < len(lines):
            found.append((line, bytes(lines[index + 1])))
    return found


def _drop(client: aioimaplib.IMAP4) -> None:
    """Close the connection and the client's own tasks (an IDLE left waiting)."""
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()
    for task in list(client.tasks):
        task.cancel()


def _exists(lines: list[bytes]) -> int | None:
    """The message count an untagged ``n EXISTS`` announces (the last one), if any."""
    found = None
    for line in lines:
        match = _EXISTS.match(bytes(line))
        if match:
            found = int(match.group(1))
    return found


class ImapReader:
    def __init__(self, server: ServerUrl, *, deliver: Deliver, cursors: MailboxCursors,
                 max_bytes: int, poll_seconds: float, on_oversize: Oversize | None = None,
                 timeout: float = 30.0) -> None:
        self._server = server
        self._deliver = deliver
        self._cursors = cursors
        self._max_bytes = max_bytes
        self._poll_seconds = poll_seconds
        self._on_oversize = on_oversize
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self.key = f"{server.username or ''}@{server.host}:{server.port}/{server.path}"
        self.synced = asyncio.Event()  # set after every pass over the mailbox (tests wait)
        self.idling = asyncio.Event()  # set while the server has acknowledged IDLE

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="email-imap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        delay = 1.0
        while True:
            client: aioimaplib.IMAP4 | None = None
            try:
                client = await self._connect()
                delay = 1.0
                await self._watch(client)
            except asyncio.CancelledError:
                if client is not None:
                    _drop(client)  # no LOGOUT: stopping must not wait for the server
                raise
            except Exception as exc:
                log.warning("email: IMAP %s: %s: %s; reconnecting in %.0fs", self.key,
                            type(exc).__name__, exc, delay)
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.logout(), 5)
                _drop(client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _connect(self) -> aioimaplib.IMAP4:
        server = self._server
        if server.tls:
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                host=server.host, port=server.port, timeout=self._timeout)
        else:
            client = aioimaplib.IMAP4(host=server.host, port=server.port, timeout=self._timeout)
        try:
            await client.wait_hello_from_server()
            if not server.tls:
                await self._starttls(client)
            if server.username is None:
                raise ImapError("SUPPORTHUB_IMAP_URL has no user name")
            _ok(await client.login(server.username, server.password or ""), "LOGIN")
        except BaseException:
            _drop(client)
            raise
        return client

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        """``imap://``: upgrade with STARTTLS (aioimaplib has no helper for it)."""
        if not client.has_capability("STARTTLS"):
            if self._server.loopback:
                return  # a local test server: plain text stays on this machine
            raise ImapError("the server offers no STARTTLS; use imaps://")
        protocol = client.protocol
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), self._timeout), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(protocol.transport, protocol,
                                         ssl.create_default_context(),
                                         server_hostname=self._server.host)
        if transport is None:
            raise ImapError("STARTTLS failed")
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self._timeout)

    async def _watch(self, client: aioimaplib.IMAP4) -> None:
        selected = _ok(await client.select(self._server.path), "SELECT")
        validity = self._uidvalidity(selected.lines)
        count = _exists(selected.lines) or 0
        idle = client.has_capability("IDLE")
        while True:
            await self.sync(client, validity)
            self.synced.set()
            # mail that arrived while we synced is announced on the next command: look
            # before going idle, or it would wait for the next round
            now = _exists(_ok(await client.noop(), "NOOP").lines)
            if now is not None and now > count:
                count = now
                continue
            if idle:
                count = await self._idle(client, count)
            else:
                await asyncio.sleep(self._poll_seconds)

    @staticmethod
    def _uidvalidity(lines: list[bytes]) -> int:
        for line in lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
        return 0

    async def _idle(self, client: aioimaplib.IMAP4, count: int) -> int:
        """Wait in IDLE until the server says something (new mail) or the poll interval
        ends (servers drop an IDLE after 30 minutes; we renew it well before)."""
        idle = await client.idle_start(timeout=self._poll_seconds)
        self.idling.set()
        try:
            while client.has_pending_idle():
                pushed = await client.wait_server_push(timeout=self._poll_seconds + 5)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                now = _exists(pushed)
                if now is not None:  # new mail (or an expunge: a look costs little)
                    count = now
                    break
        except TimeoutError:
            pass
        finally:  # on cancellation too: DONE is sent, the connection is dropped after
            self.idling.clear()
            if client.has_pending_idle():
                client.idle_done()
        await asyncio.wait_for(idle, self._timeout)
        return count

    async def sync(self, client: aioimaplib.IMAP4, validity: int) -> None:
        """Commit every mail after the cursor, in UID order."""
        cursor = await self._cursors.load(self.key)
        last = cursor[1] if cursor is not None and cursor[0] == validity else None
        for uid, size in await self._candidates(client, last):
            if size > self._max_bytes:
                log.warning("email: IMAP %s: mail UID %d is %d bytes, over "
                            "SUPPORTHUB_EMAIL_MAX_BYTES; left unread", self.key, uid, size)
                if self._on_oversize is not None:
                    await self._on_oversize(uid, size)
            else:
                raw = await self._fetch(client, uid)
                if raw is not None:
                    await self._deliver(raw)  # committed (an exception stops here)
                    _ok(await client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"),
                        "STORE")
            await self._cursors.save(self.key, validity, uid)

    async def _candidates(self, client: aioimaplib.IMAP4,
                          last: int | None) -> list[tuple[int, int]]:
        if last is None:
            found = _ok(await client.uid_search("UNSEEN", charset=None), "UID SEARCH")
            uids = [int(u) for line in found.lines[:1] for u in bytes(line).split()
                    if u.isdigit()]
            if not uids:
                return []
            ranges = ",".join(str(u) for u in uids)
        else:
            ranges = f"{last + 1}:*"
        fetched = _ok(await client.uid("fetch", ranges, "(UID RFC822.SIZE)"), "UID FETCH")
        found_sizes: dict[int, int] = {}
        for line in fetched.lines:
            data = bytes(line)
            uid, size = _FETCH_UID.search(data), _SIZE.search(data)
            if uid and size:
                found_sizes[int(uid.group(1))] = int(size.group(1))
        # "n:*" always includes the last mail, even when its UID is below n
        return sorted((u, s) for u, s in found_sizes.items() if last is None or u > last)

    async def _fetch(self, client: aioimaplib.IMAP4, uid: int) -> bytes | None:
        response = _ok(await client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "UID FETCH")
        for _header, literal in literals(response.lines):
            return literal
        log.warning("email: IMAP %s: UID %d vanished before it was read", self.key, uid)
        return None
