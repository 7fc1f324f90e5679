"""The built-in SMTP receiver (aiosmtpd), for an MTA relay or an MX pointed at the hub.

It runs on the hub's own event loop (not aiosmtpd's threaded ``Controller``), so the mail
is committed by the same code as everything else. It accepts recipients for the support
address and its ``+`` aliases only (550 for any other), refuses a mail over the size limit
at DATA (552, aiosmtpd's ``data_size_limit``), and says 250 only once the mail is committed:
if committing fails, 451 tells the sending MTA to try again later, so no mail is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[None]]


class _Handler:
    def __init__(self, accepts: Callable[[str], bool], deliver: Deliver) -> None:
        self._accepts = accepts
        self._deliver = deliver

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not self._accepts(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        try:
            await self._deliver(data)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("email: could not commit a mail from %s", envelope.mail_from)
            return "451 4.3.0 Could not store the message now, try again later"
        return "250 2.0.0 Message stored"


class SmtpReceiver:
    def __init__(self, host: str, port: int, *, accepts: Callable[[str], bool],
                 deliver: Deliver, max_bytes: int, hostname: str | None = None) -> None:
        self._host, self._port = host, port
        self._handler = _Handler(accepts, deliver)
        self._max_bytes = max_bytes
        self._hostname = hostname
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> Any:
        return SMTP(self._handler, data_size_limit=self._max_bytes, enable_SMTPUTF8=True,
                    hostname=self._hostname, timeout=300)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port)
        log.info("email: SMTP receiver listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
