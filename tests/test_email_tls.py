"""STARTTLS on both mail paths: the IMAP reader (``imap://``) and the SMTP sender
(``smtp://user:password@…``) upgrade the connection and check the server's certificate
before any password is sent. pymap and aiosmtpd offer STARTTLS with a certificate of a
local test CA (trustme); the hub trusts that CA through ``SSL_CERT_FILE``, as it would a
private CA in production, or trusts another CA and must refuse the server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from conftest import HubFactory
from fakes.mail import ImapServer, ProviderSmtp, mail
from test_email import JANE, deliver, start


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_imap(ca: trustme.CA, tmp_path: Path) -> AsyncIterator[ImapServer]:
    issued = ca.issue_cert("127.0.0.1")
    chain, key = tmp_path / "imap-chain.pem", tmp_path / "imap-key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    server = ImapServer(tls=(str(chain), str(key)))
    await server.start()
    yield server
    await server.stop()


def trust(monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, path: Path) -> None:
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))  # read by ssl.create_default_context


async def test_imap_over_starttls_is_read_when_the_certificate_is_trusted(
    start_hub: HubFactory, provider: ProviderSmtp, tls_imap: ImapServer, ca: trustme.CA,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    trust(monkeypatch, ca, tmp_path / "ca.pem")
    await tls_imap.append(mail())
    await start(start_hub, provider, imap_url=tls_imap.url, email_listen="",
                imap_poll_seconds=2)
    await provider.wait_for(1)
    assert "3-5 business days" in provider.sent[0].message.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    [flags] = (await tls_imap.flags()).values()
    assert "\\Seen" in flags


async def test_imap_over_starttls_refuses_a_certificate_it_cannot_verify(
    start_hub: HubFactory, provider: ProviderSmtp, tls_imap: ImapServer,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    trust(monkeypatch, trustme.CA(), tmp_path / "other-ca.pem")  # not the server's CA
    await tls_imap.append(mail())
    await start(start_hub, provider, imap_url=tls_imap.url, email_listen="",
                imap_poll_seconds=2)
    async with asyncio.timeout(15):  # the reader's first attempt fails, and says why
        while not any("SSLCertVerificationError" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.1)
    assert provider.sent == []  # no mail read: no LOGIN was sent over the unverified link
    [flags] = (await tls_imap.flags()).values()
    assert "\\Seen" not in flags


@pytest.fixture
async def submission(ca: trustme.CA) -> AsyncIterator[ProviderSmtp]:
    """A provider's submission server: STARTTLS required, then a login."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ProviderSmtp(tls=context, login=("hub@acme.test", "s3cret"))
    await server.start()
    yield server
    await server.close()


async def test_replies_are_sent_over_starttls_after_logging_in(
    start_hub: HubFactory, submission: ProviderSmtp, ca: trustme.CA, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trust(monkeypatch, ca, tmp_path / "ca.pem")
    hub = await start(start_hub, submission)
    await deliver(hub, mail())
    [sent] = await submission.wait_for(1)
    assert (sent.tls, sent.user, sent.rcpt_tos) == (True, "hub@acme.test", [JANE])


async def test_no_reply_is_sent_to_a_server_whose_certificate_cannot_be_verified(
    start_hub: HubFactory, submission: ProviderSmtp, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    trust(monkeypatch, trustme.CA(), tmp_path / "other-ca.pem")
    hub = await start(start_hub, submission)
    await deliver(hub, mail())
    async with asyncio.timeout(30):  # tried again (the tests' back-off is short), then
        while not any("certificate verify failed" in r.getMessage().lower()  # dead-lettered
                      for r in caplog.records if r.name == "hub.outbox"):
            await asyncio.sleep(0.1)
    assert submission.sent == []  # nothing sent, no password sent over it
    assert (await hub.hub.store.outbox_stats()).sent == 0
