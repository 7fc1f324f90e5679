"""The intake: a webhook's message is acknowledged once journaled, and taken in after.

A platform waits for our 200, and retries when it waits long; a burst of messages must not
make it wait for the work each one brings. So a message from a webhook channel (Telegram,
Slack, Twilio, Meta) is only *accepted* before the acknowledgement: one insert into the
intake journal (``Store.accept``; the same group commit, so it is durable before the 200).
This process's intake task then *takes it in*: stores it in its conversation — identity,
contact, conversation, survey answer, events — and removes the journal row in the same
transaction (``Store.take_in``), then hands it to routing. The web chat and email still
commit the whole message before they answer: their callers get the stored message back.

- Exactly once: a journal row is taken in once whoever takes it (its deletion decides), and
  the platform's message id is still deduplicated when it is taken in (a retry the platform
  sends while the first copy waits in the journal is journaled twice, stored once).
- In order: rows are taken in oldest first, each chat's one after another (chats side by
  side); across processes see ``hub/store/rules_inbox.py``.
- Nothing lost: what a process accepted but had not taken in when it stopped (even by
  ``kill -9``) is taken in at the next start (SQLite) or adopted by a survivor within
  ``RECOVER_SECONDS`` (PostgreSQL: the rows of database sessions that ended). A take-in that
  fails is tried again with back-off; a row whose take-in failed ``STRIKES`` times for a
  reason other than the store being away is the trouble itself, and is set aside, kept
  whole (``inbox_failed``, with its error; logged at ERROR, counted in ``/metrics``), so
  its chat's later messages go on.
- Acknowledgements first: while messages arrive faster than the pipeline's busy rate, the
  intake takes in ``BUSY_BATCH`` at a time, once per ``BUSY_PAUSE``, so the burst's
  acknowledgements get the event loop; the journal holds the rest (on disk: memory stays
  bounded) and the intake catches up after the burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from hub.model import InboundMessage, storable_text
from hub.store import Store
from hub.store.base import Accepted

log = logging.getLogger(__name__)

BATCH = 256  # journal rows read at a time
BUSY_BATCH = 8  # … while a burst lasts, once per BUSY_PAUSE
BUSY_PAUSE = 0.1  # seconds
# chats taken in side by side: enough to fill SQLite's group commit, few enough that
# PostgreSQL's group-commit lanes rarely lock two conversations in opposite orders (each
# time both batches stall for the group commit's lock wait cut, 100 ms)
CHATS_AT_ONCE = 8
RETRY_MAX_SECONDS = 60.0  # the longest pause after a failed take-in, before trying again
STRIKES = 5  # failed take-ins (not the store being away) after which a row is set aside


class Intake:
    def __init__(self, store: Store, take_in: Callable[[Accepted], Awaitable[None]],
                 busy: Callable[[], bool], counted: Callable[[], None]) -> None:
        self._store = store
        self._take_in = take_in  # the pipeline's: store it, then route it
        self._busy = busy  # whether acknowledgements come first now
        self._counted = counted  # counts a received message for ``busy``
        self._wanted = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._accepts = 0  # messages accepted by this process so far
        self._task: asyncio.Task[None] | None = None
        self._closed = False  # after close: accepts are journaled for the next start only
        self._strikes: dict[int, int] = {}  # journal row → its failed take-ins so far

    async def accept(self, inbound: InboundMessage) -> None:
        """Journal ``inbound``; once this returns the platform may be acknowledged."""
        self._counted()
        await self._store.accept(storable(inbound))
        self._accepts += 1
        self.wake()

    def wake(self) -> None:
        """Look at the journal (a message was accepted, adopted, or may be unblocked)."""
        if self._closed:
            return
        self._idle.clear()
        self._wanted.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="intake")

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    async def drain(self, timeout: float) -> None:
        """Wait until the journal has nothing this process can take in (or ``timeout``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()

    async def close(self) -> None:
        self._closed = True
        self._idle.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._take_all()
            except Exception as exc:  # the store unreachable, a rule failing: later
                log.warning("intake: could not take accepted messages in (%s); trying"
                            " again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                self._wanted.set()
            else:
                delay = 0.5

    async def _take_all(self) -> None:
        while True:
            accepts = self._accepts
            busy = self._busy()
            batch = await self._store.accepted(BUSY_BATCH if busy else BATCH)
            if not batch:
                if accepts == self._accepts and not self._wanted.is_set():
                    self._idle.set()
                return
            slots = asyncio.Semaphore(CHATS_AT_ONCE)
            failures = [r for r in await asyncio.gather(
                *(self._take_chat(rows, slots) for rows in _by_chat(batch)),
                return_exceptions=True) if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            if busy:
                await asyncio.sleep(BUSY_PAUSE)

    async def _take_chat(self, rows: Sequence[Accepted], slots: asyncio.Semaphore) -> None:
        async with slots:
            for accepted in rows:  # one after another: a failure stops the chat's later ones
                try:
                    await self._take_in(accepted)
                except Exception as exc:
                    if not await self._struck(accepted, exc):
                        raise
                    continue  # set aside: the chat's later messages go on
                self._strikes.pop(accepted.id, None)

    async def _struck(self, accepted: Accepted, exc: Exception) -> bool:
        """Count a failed take-in against its row; True once the row is set aside. A
        failure of the network or the disk (``OSError``, ``TimeoutError``: the store away)
        is no fault of the row and does not count; the journal was read just before, so
        the store answers."""
        if isinstance(exc, (OSError, TimeoutError)):
            return False
        strikes = self._strikes.get(accepted.id, 0) + 1
        self._strikes[accepted.id] = strikes
        if strikes < STRIKES:
            return False
        log.error("intake: message %d (%s, chat %s) failed to be taken in %d times"
                  " (last: %s: %s); set aside in inbox_failed", accepted.id,
                  accepted.inbound.channel, accepted.inbound.external_id, strikes,
                  type(exc).__name__, exc)
        await self._store.set_aside(accepted, f"{type(exc).__name__}: {exc}")
        self._strikes.pop(accepted.id, None)
        return True


def storable(inbound: InboundMessage) -> InboundMessage:
    """The message with text both engines can keep: a platform may send a NUL (PostgreSQL
    refuses it in text) or a lone surrogate (no UTF-8 at all). A web form gets a 422 for
    those; a platform cannot be told, and a row that can never be taken in would hold up
    its chat's later messages, so they are dropped (NUL) or replaced (U+FFFD) here."""
    changed: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(inbound, name)
        if isinstance(value, str) and (clean := _clean(value)) != value:
            changed[name] = clean
    return replace(inbound, **changed) if changed else inbound


_TEXT_FIELDS = ("external_id", "text", "platform_message_id", "display_name", "csat_comment")


def _clean(text: str) -> str:
    if storable_text(text):
        return text
    text = text.replace("\x00", "")  # and a lone surrogate: U+FFFD, as a decoder puts it
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _by_chat(batch: Sequence[Accepted]) -> list[list[Accepted]]:
    """The batch's rows per chat, each chat's oldest first."""
    chats: dict[tuple[str, str], list[Accepted]] = {}
    for accepted in batch:
        chats.setdefault((accepted.inbound.channel, accepted.inbound.external_id),
                         []).append(accepted)
    return list(chats.values())
