"""The mail servers' URLs, and sending with aiosmtplib (errors sorted into retry / never).

- ``smtp://user:password@host:587``: STARTTLS, then login (required when credentials are
  given); ``smtp://host:port`` without credentials: a local relay, no TLS, no login;
- ``smtps://user:password@host:465``: TLS from the first byte;
- ``imaps://user:password@host:993/INBOX``: TLS; ``imap://…``: STARTTLS (plain only to a
  loopback address, for a local test server).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bots.base import PermanentFailure, RetryLater
from hub.config import ConfigError

_DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "imap": 143, "imaps": 993}


@dataclass(frozen=True, slots=True)
class ServerUrl:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    path: str  # the IMAP mailbox ("INBOX" by default)

    @property
    def tls(self) -> bool:
        return self.scheme in ("smtps", "imaps")

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def parse_url(url: str, schemes: tuple[str, ...], setting: str) -> ServerUrl:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"setting SUPPORTHUB_{setting} must look like "
                          f"{schemes[0]}://user:password@host:port, not {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError(f"setting SUPPORTHUB_{setting} has a bad port") from None
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    return ServerUrl(parts.scheme, parts.hostname, port,
                     unquote(parts.username) if parts.username else None,
                     unquote(parts.password) if parts.password is not None else None,
                     mailbox)


def smtp_url(url: str) -> ServerUrl:
    return parse_url(url, ("smtp", "smtps"), "SMTP_URL")


def imap_url(url: str) -> ServerUrl:
    return parse_url(url, ("imaps", "imap"), "IMAP_URL")


def listen_address(value: str) -> tuple[str, int]:
    """``0.0.0.0:2525`` → (``0.0.0.0``, 2525)."""
    host, colon, port = value.rpartition(":")
    try:
        if not colon:
            raise ValueError(value)
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        raise ConfigError("setting SUPPORTHUB_EMAIL_LISTEN must be host:port, "
                          f"not {value!r}") from None


async def send_mail(server: ServerUrl, message: EmailMessage, *, sender: str,
                    recipients: list[str], timeout: float) -> None:
    """Send one mail; raise :class:`RetryLater` (4xx, connection) or
    :class:`PermanentFailure` (5xx)."""
    login = server.username is not None
    try:
        await aiosmtplib.send(
            message, sender=sender, recipients=recipients, hostname=server.host,
            port=server.port, username=server.username, password=server.password,
            use_tls=server.tls, start_tls=(login and not server.tls) or False,
            timeout=timeout)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"email: refused: {text}") from exc
        raise RetryLater(f"email: refused for now: {text}") from exc
    except aiosmtplib.SMTPAuthenticationError as exc:  # our credentials, not the customer
        raise RetryLater(f"email: SMTP login failed: {exc.code} {exc.message}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        text = f"email: SMTP {exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            # a refused sender or data: nothing says the customer's address is bad
            raise PermanentFailure(text, unreachable=False) from exc
        raise RetryLater(text) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise RetryLater(f"email: {type(exc).__name__}: {exc}") from exc
