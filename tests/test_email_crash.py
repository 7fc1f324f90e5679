"""Exactly once across a ``kill -9``: a hub process reading a mailbox over IMAP is killed,
and the mail it had committed is found unread again on restart (the state a kill between
the commit and ``\\Seen`` leaves); it is stored once and answered once. A restart after a
clean pass goes on from the remembered UID, not from the unread mail."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from fakes.mail import ImapServer, ProviderSmtp, mail
from fakes.net import free_port, wait_ready

from hub.store import make_store

SUPPORT = "support@acme.test"


def serve(db_url: str, provider: ProviderSmtp, imap: ImapServer,
          port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SUPPORTHUB_EMAIL_ADDRESS": SUPPORT,
           "SUPPORTHUB_SMTP_URL": provider.url, "SUPPORTHUB_IMAP_URL": imap.url,
           "SUPPORTHUB_IMAP_POLL_SECONDS": "2", "SUPPORTHUB_OUTBOX_BASE_DELAY": "0.05"}
    return subprocess.Popen([sys.executable, "-m", "hub", "serve", "--demo", "--port",
                             str(port), "--db", db_url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def sent_recorded(db: Path) -> None:
    """Until the outbox has recorded the reply as sent (a kill before that resends it, with
    the same Message-ID, which mail clients show once)."""
    async with asyncio.timeout(10):
        while True:
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT count(*) FROM outbox WHERE status = 'sent'"
                                   " AND channel = 'email'").fetchone()
            if row[0] >= 1:
                return
            await asyncio.sleep(0.05)


async def test_a_mail_read_again_after_kill_9_is_stored_and_answered_once(
    tmp_path: Path, provider: ProviderSmtp, imap: ImapServer,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    await imap.append(mail())
    port = free_port()
    first = serve(db_url, provider, imap, port)
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        await provider.wait_for(1, timeout=20)
        await sent_recorded(tmp_path / "hub.db")
        first.kill()  # kill -9
        await asyncio.to_thread(first.wait, 10)
        # the state a kill between the commit and \Seen leaves: the mail unread, and the
        # reader's cursor not yet moved past it (it moves after \Seen)
        (uid,) = (await imap.flags()).keys()
        await imap.unsee(uid)
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            conn.execute("DELETE FROM email_cursors")
        await imap.append(mail())  # and the provider delivers the same mail again
        again = serve(db_url, provider, imap, port)
        try:
            await wait_ready(f"http://127.0.0.1:{port}")
            async with asyncio.timeout(20):
                while True:
                    flags = await imap.flags()
                    if len(flags) == 2 and all("\\Seen" in f for f in flags.values()):
                        break
                    await asyncio.sleep(0.1)
        finally:
            again.terminate()
            await asyncio.to_thread(again.wait, 10)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(provider.sent) == 1
    store = make_store(db_url)
    await store.open()
    try:
        conversation = await store.find_conversation("email", "jane@customer.test")
        assert conversation is not None
        messages = await store.list_messages(conversation.id)
        assert [m.direction for m in messages] == ["in", "out"]
    finally:
        await store.close()
