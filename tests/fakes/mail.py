"""Mail servers for the email tests: an aiosmtpd server standing in for the provider's SMTP
(what the hub sends), and pymap, a real asyncio IMAP server with IDLE, as a subprocess
holding the mailbox the hub reads."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aioimaplib
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from fakes.net import free_port

IMAP_USER = "demouser"
IMAP_PASSWORD = "demopass"


@dataclass
class Sent:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool = False  # sent over a STARTTLS-upgraded connection
    user: str | None = None  # who logged in to send it


@dataclass
class ProviderSmtp:
    """The provider's SMTP server: keeps what it is sent; ``refuse`` answers RCPT with a
    code (e.g. "550 5.1.1 no such user" or "451 4.7.1 try later"); ``tls`` and ``login``:
    a submission server that requires STARTTLS, then this user name and password."""

    port: int = 0
    sent: list[Sent] = field(default_factory=list)
    refuse: str | None = None
    tls: ssl.SSLContext | None = None
    login: tuple[str, str] | None = None
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.sent.append(Sent(str(envelope.mail_from), list(envelope.rcpt_tos), message,
                              tls=session.ssl is not None,
                              user=session.auth_data if session.authenticated else None))
        self._arrived.set()
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, tls_context=self.tls, require_starttls=self.tls is not None,
                         auth_required=self.login is not None,
                         authenticator=self._authenticate), "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, data: Any) -> AuthResult:
        if self.login is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.login
        ok = (data.login.decode(), data.password.decode()) == (user, password)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    @property
    def url(self) -> str:
        if self.login is not None:
            return f"smtp://{self.login[0]}:{self.login[1]}@127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Sent]:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.sent


class ImapServer:
    """``pymap … dict``: one user (demouser/demopass) with an empty INBOX, in memory;
    ``tls``: (certificate chain file, key file) to offer STARTTLS with."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self._tls = tls
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://{IMAP_USER}:{IMAP_PASSWORD}@127.0.0.1:{self.port}/INBOX"

    async def start(self) -> None:
        pymap = shutil.which("pymap") or os.path.join(os.path.dirname(sys.executable), "pymap")
        self._process = subprocess.Popen(
            [pymap, *(["--cert", self._tls[0], "--key", self._tls[1]] if self._tls
                      else ["--no-tls"]),
             "--host", "127.0.0.1", "--port", str(self.port), "dict"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async with asyncio.timeout(20):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                return

    async def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self._process.wait, 10)

    async def client(self) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
        await client.wait_hello_from_server()
        assert (await client.login(IMAP_USER, IMAP_PASSWORD)).result == "OK"
        assert (await client.select("INBOX")).result == "OK"
        return client

    async def append(self, raw: bytes) -> None:
        client = await self.client()
        try:
            response = await client.append(raw, mailbox="INBOX")
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def unsee(self, uid: int) -> None:
        """Take ``\\Seen`` off a mail: the state a hub killed between committing it and
        flagging it leaves behind."""
        client = await self.client()
        try:
            response = await client.uid("store", str(uid), "-FLAGS", r"(\Seen)")
            assert response.result == "OK", response
        finally:
            await client.logout()

    async def flags(self) -> dict[int, str]:
        """UID → its FLAGS list, as text."""
        client = await self.client()
        try:
            response = await client.uid("fetch", "1:*", "(UID FLAGS)")
        finally:
            await client.logout()
        found: dict[int, str] = {}
        for line in response.lines:
            uid = re.search(r"UID (\d+)", bytes(line).decode())
            flags = re.search(r"FLAGS \(([^)]*)\)", bytes(line).decode())
            if uid and flags:
                found[int(uid.group(1))] = flags.group(1)
        return found


def mail(*, sender: str = "Jane Doe <jane@customer.test>", to: str = "support@acme.test",
         subject: str = "Shipping", body: str = "how long does shipping take?",
         message_id: str | None = "<m1@customer.test>", headers: dict[str, str] | None = None,
         html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    if html is not None and not body:
        message.set_content(html, subtype="html")
    else:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    return bytes(message)


