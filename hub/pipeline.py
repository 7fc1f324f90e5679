"""The message pipeline: commit, then route.

``receive`` commits the customer's message and returns (the caller may now acknowledge the
platform); routing runs as an owned background task. A repeated platform message id is
stored once, and routed once: a message is marked handled in the same transaction that
writes its replies.

Routing never holds up an acknowledgement: ``receive`` hands the committed message to a
queue read by ``ROUTERS`` routing workers (bounded concurrency: a burst is absorbed by the
queue, not by thousands of tasks competing with the acknowledgements for the event loop).
The queue holds at most ``QUEUE_LIMIT`` messages. On SQLite, where one process owns the
file, a message that finds it full is left in the store (committed, unrouted: nothing is
lost) and from then on every new one is too, until the workers have read the backlog back
from the store, oldest first (``Store.claim_unrouted``), so each conversation's order is
kept. Where several processes share the database, a full queue makes ``receive`` wait for
room (back-pressure on the platform) instead.

Acknowledgements come first: while messages arrive faster than ``BUSY_RATE`` a second
(a burst), only ``ROUTERS_WHEN_BUSY`` workers route, each pausing ``BUSY_ROUTE_PAUSE`` after
every message, and the outbox keeps few deliveries in
flight (``acks_busy``), so the event loop's time goes to committing and acknowledging; the
bot falls behind during the burst (bounded: the queue, then the store) and catches up after.

No committed message is left unrouted while some process runs:

- at start, the messages no live process is routing are routed (``Store.claim_unrouted``:
  on SQLite, whatever the previous process left; on PostgreSQL, what processes that died
  left);
- on a database several processes share (``Store.several_processes``), every process looks
  again each ``RECOVER_SECONDS``, so a process that dies (even ``kill -9``) after
  acknowledging messages has them routed by a survivor within seconds;
- a routing that fails (say the database is briefly unreachable) is tried again with
  back-off while the process lives.

A conversation's messages are answered in order: within a process, one routing at a time per
conversation; across processes, a message is routed only once every earlier message of its
conversation has been (``Store.earlier_unrouted``), waiting at most ``ORDER_WAIT_SECONDS``
for one that is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from handoff import linking, survey
from handoff.intent import wants_human
from hub import business_hours, marks, metrics
from hub.config import Settings
from hub.cycles import NewEvent
from hub.events import ConversationChanged, EventBus, MessageCreated
from hub.intake import Intake
from hub.model import (
    Article,
    Author,
    Conversation,
    ConversationState,
    InboundMessage,
    Ingested,
    Message,
    NewMessage,
    Suggestion,
)
from hub.store import Store, Turn
from hub.store.base import Accepted
from hub.store.base_kb import NewUnanswered, UnansweredKind
from knowledge import feedback
from knowledge.service import KnowledgeBase

log = logging.getLogger(__name__)

HANDOFF_TEXT = (
    "Sure — I'm connecting you with a person. Someone from our team will reply here shortly."
)
HANDOFF_AFTER_FALLBACKS_TEXT = (
    "I couldn't find an answer to that, so I'm connecting you with a person. "
    "Someone from our team will reply here shortly."
)
FALLBACK_TEXT = (
    "I don't know that one, sorry. Could you put it another way? "
    "Or say \"agent\" and I'll connect you with a person."
)
SUGGEST_TEXT = "I'm not sure I understood. Did you mean one of these?"
UNKNOWN_CHOICE_TEXT = "Sorry, that article is no longer available. Could you ask again?"
WELCOME_TEXT = (
    "Hi! Ask me anything about your order, shipping, returns or your account, in your own "
    "words. Say \"agent\" at any time to reach a person."
)
EMAIL_QUEUED_TEXT = (
    "Thanks for your message. A person from our team will read it and reply to this email."
)
EMAIL = "email"
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fwd?|wg|tr)\s*:\s*)+", re.IGNORECASE)
ATTACHMENT_TEXT = (
    "Thanks, I've kept that for our team to see. I can only read text, though: "
    "please type your question, or say \"agent\" to reach a person."
)

BOT_STATES = frozenset({ConversationState.BOT})

RECOVER_SECONDS = 1.0  # several processes: how often each looks for a dead one's messages
JOURNAL_LOOK_SECONDS = 2.0  # one process (SQLite): how often it looks at the journal anyway
ORDER_WAIT_SECONDS = 30.0  # the longest a message waits for an earlier one to be routed
RETRY_MAX_SECONDS = 60.0  # the longest pause between tries of a failing routing
ROUTERS = 8  # routing workers: messages routed at once by this process
QUEUE_LIMIT = 10_000  # messages waiting in memory for a routing worker
REFILL = 500  # backlog messages read back from the store at a time
BUSY_RATE = 1000.0  # messages/s received at which routing and sending step back
ROUTERS_WHEN_BUSY = 2  # routing workers that go on during a burst
BUSY_ROUTE_PAUSE = 0.025  # … each pausing this long after a message (together ≤ 80/s)
BUSY_WINDOW = 0.1  # seconds: the window the rate is counted over


def _subject(message: Message) -> str:
    """An email's subject (its ``[subject: …]`` mark) without ``Re:``/``Fwd:``."""
    subject = marks.detail(message.text, marks.SUBJECT, message.marks) or ""
    return _REPLY_PREFIX.sub("", subject).strip()


def _first_paragraph(text: str) -> str:
    for paragraph in re.split(r"\n\s*\n", text):
        if paragraph.strip():
            return paragraph.strip()
    return ""


class Pipeline:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        knowledge: KnowledgeBase,
        settings: Settings,
        on_outbox: Callable[[], None],
        channels: Mapping[str, object] | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._knowledge = knowledge
        self._settings = settings
        self._on_outbox = on_outbox
        self._channels = channels if channels is not None else {}  # the channels that are on
        self._tasks: set[asyncio.Task[None]] = set()
        self._routing: set[int] = set()  # ids of the messages this process is routing
        self._recovery: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0  # workers routing a message now
        self._idle = asyncio.Event()  # set when nothing is queued nor being routed
        self._idle.set()
        # SQLite, queue full: messages left in the store, read back by the workers
        self._backlog: set[int] = set()
        self._refill: asyncio.Task[None] | None = None
        self._window = 0  # the current BUSY_WINDOW's number, and what it and the last one
        self._received = 0  # counted
        self._received_before = 0
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._hours = business_hours.configured(settings.business_hours, settings.timezone,
                                                settings.holidays)
        self._intake = Intake(store, self._take_in, self.acks_busy, self._count_received)

    # committing ------------------------------------------------------------
    async def receive(self, inbound: InboundMessage) -> Ingested:
        """Commit an inbound message; routing follows in the background."""
        self._count_received()
        inbound, window, comment_window = self._read_survey(inbound)
        ingested = await self._store.ingest(inbound, csat_window=window,
                                            comment_window=comment_window)
        await self._stored(inbound, ingested)
        return ingested

    async def accept(self, inbound: InboundMessage) -> None:
        """Journal a webhook's message (hub/intake.py): once this returns the platform may
        be acknowledged; the message is stored in its conversation and routed after."""
        await self._intake.accept(inbound)

    async def _take_in(self, accepted: Accepted) -> None:
        inbound, window, comment_window = self._read_survey(accepted.inbound)
        ingested = await self._store.take_in(replace(accepted, inbound=inbound),
                                             csat_window=window, comment_window=comment_window)
        if ingested is not None:
            await self._stored(inbound, ingested)

    def _read_survey(self, inbound: InboundMessage) -> tuple[InboundMessage, float, float]:
        """The message with its survey answer read (a bare 1–5 and the lines after it may
        answer a pending survey, other words may be a rating's comment: the store decides
        whether one waits for them), and the survey's two windows (0: no survey)."""
        if not self._settings.csat:
            if inbound.csat_score is not None or inbound.csat_comment is not None:
                inbound = replace(inbound, csat_score=None, csat_comment=None)
            return inbound, 0.0, 0.0
        if inbound.csat_score is not None:  # a button, perhaps with a comment
            inbound = replace(inbound,
                              csat_comment=survey.comment_text(inbound.csat_comment or ""))
        elif inbound.choice_article_id is None:
            score, comment = survey.read(inbound.text, inbound.marks)
            inbound = replace(inbound, csat_score=score, csat_comment=comment)
        return (inbound, float(self._settings.csat_window),
                float(self._settings.csat_comment_window))

    async def _stored(self, inbound: InboundMessage, ingested: Ingested) -> None:
        """Tell the live views of a stored message, thank for a survey answer, or queue the
        message for routing."""
        if not ingested.duplicate:
            metrics.MESSAGES_RECEIVED.labels(inbound.channel).inc()
            self._bus.publish(MessageCreated(ingested.message))
            self._bus.publish(ConversationChanged(ingested.conversation))
        surveyed = ingested.csat_score is not None or ingested.csat_comment is not None
        if surveyed and not ingested.duplicate:
            if ingested.csat_score is not None:
                metrics.CSAT_ANSWERS.labels(str(ingested.csat_score)).inc()
            if ingested.csat_comment is not None:
                metrics.CSAT_COMMENTS.inc()
            self._spawn(self._thank(ingested.conversation.id,
                                    survey.thanks(ingested.csat_score, ingested.csat_comment)))
        elif not ingested.handled:
            if self._backlog or (self._queue.full() and not self._store.several_processes):
                if ingested.message.id not in self._routing:
                    self._backlog.add(ingested.message.id)  # read back from the store
                    self._want_refill()
            else:
                await self._enqueue(ingested.message)

    async def _thank(self, conversation_id: int, thanks: NewMessage) -> None:
        await self.commit(conversation_id, [thanks],
                          expect=frozenset({ConversationState.RESOLVED}))

    def _count_received(self, more: int = 1) -> None:
        window = int(time.monotonic() / BUSY_WINDOW)
        if window != self._window:
            self._received_before = self._received if window == self._window + 1 else 0
            self._received, self._window = 0, window
        self._received += more

    def acks_busy(self) -> bool:
        """Whether messages arrive faster than ``BUSY_RATE`` (over the current and the last
        ``BUSY_WINDOW``): then routing and sending step back for the acknowledgements."""
        self._count_received(0)
        return max(self._received, self._received_before) >= BUSY_RATE * BUSY_WINDOW

    async def _enqueue(self, message: Message) -> None:
        """Queue ``message`` for a routing worker, unless this process is routing it
        already (a redelivery, or a message recovered while its first routing runs)."""
        if message.id in self._routing:
            return
        self._routing.add(message.id)
        self._idle.clear()
        self._start_workers()
        await self._queue.put(message)  # waits only where several processes share the store

    def _start_routing(self, message: Message) -> None:
        """Queue ``message`` without waiting (recovery: room is made sure of by the
        caller, else the message stays in the store for the next look)."""
        if message.id in self._routing or self._queue.full():
            return
        self._routing.add(message.id)
        self._idle.clear()
        self._start_workers()
        self._queue.put_nowait(message)

    def _start_workers(self) -> None:
        while len(self._workers) < ROUTERS:
            number = len(self._workers)
            self._workers.append(asyncio.create_task(self._work(number), name="router"))

    async def _work(self, number: int) -> None:
        while True:
            if number >= ROUTERS_WHEN_BUSY and self.acks_busy():
                await asyncio.sleep(BUSY_WINDOW)  # a burst: acknowledgements first
                continue
            message = await self._queue.get()
            self._busy += 1
            try:
                routed = await self.route(message, wait=False)
            except Exception:
                log.exception("routing message %d failed; trying again in 0.5 s", message.id)
                self._spawn(self._route_until_done(message, 0.5))
            else:
                if routed:
                    self._routing.discard(message.id)
                else:  # it waits for another process, outside the workers
                    self._spawn(self._route_until_done(message, 0.02))
            finally:
                self._busy -= 1
                self._queue.task_done()
                if self._backlog:
                    self._want_refill()
                self._check_idle()
            if self.acks_busy():  # a burst: each of the few routes at a measured pace
                await asyncio.sleep(BUSY_ROUTE_PAUSE)

    def _check_idle(self) -> None:
        if (not self._busy and self._queue.empty() and not self._backlog and not self._tasks
                and self._refill is None):
            self._idle.set()

    def _want_refill(self) -> None:
        # read back only once few are left here: the store's oldest unrouted messages are
        # then mostly ones this process has not queued yet
        if self._refill is None and len(self._routing) <= REFILL // 2:
            self._refill = asyncio.create_task(self._read_backlog(), name="backlog")

    async def _read_backlog(self) -> None:
        """Queue the oldest unrouted messages from the store (SQLite: they are all this
        process's); the backlog is done once the store has none this process has not
        queued."""
        waiting = set(self._backlog)  # a message committed during the read stays waiting
        try:
            found = [m for m in await self._store.claim_unrouted(REFILL)
                     if m.id not in self._routing]
        except Exception as exc:
            log.warning("could not read unrouted messages back: %s", exc)
            await asyncio.sleep(0.5)
            self._refill = None
            self._want_refill()
            return
        self._refill = None
        for message in found:
            self._backlog.discard(message.id)
            self._start_routing(message)
        if not found:
            self._backlog -= waiting  # routed meanwhile (a redelivery): none is left
        if self._backlog:
            self._want_refill()
        self._check_idle()

    async def _route_until_done(self, message: Message, delay: float) -> None:
        """Try a failed routing again with back-off (outside the workers, so one failing
        message holds up no other)."""
        try:
            while True:
                await asyncio.sleep(delay)
                delay = min(max(delay * 2, 0.5), RETRY_MAX_SECONDS)
                try:
                    await self.route(message)
                    return
                except Exception:
                    log.exception("routing message %d failed; trying again in %.1f s",
                                  message.id, delay)
        finally:
            self._routing.discard(message.id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        self._idle.clear()  # drain() waits for it too
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._check_idle()
        if not task.cancelled() and task.exception() is not None:
            log.error("routing failed", exc_info=task.exception())

    async def start(self) -> int:
        """Start routing what no live process routes (see the module's note); return how
        many messages were found at start."""
        found = await self.recover()
        self._recovery = asyncio.create_task(
            self._recover_forever() if self._store.several_processes
            else self._look_at_journal_forever(), name="recovery")
        return found

    async def recover(self) -> int:
        """Start routing the committed, unrouted messages no live process is routing (in
        order: each conversation's are routed one after another); return how many."""
        pending = [m for m in await self._store.claim_unrouted() if m.id not in self._routing]
        for message in pending:
            await self._enqueue(message)
        # the intake journal: what a stopped process accepted, and (several processes) rows
        # that waited for an older one of their chat another process held
        adopted = await self._store.adopt_accepted()
        self._intake.wake()
        return len(pending) + adopted

    async def _recover_forever(self) -> None:
        while True:
            await asyncio.sleep(RECOVER_SECONDS)
            try:
                found = await self.recover()
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("could not look for unrouted messages: %s", exc)
                continue
            if found:
                log.info("routing %d messages left by a hub process that stopped", found)

    async def _look_at_journal_forever(self) -> None:
        """One process on the file: nothing is left by another, but rows put back into the
        journal from outside (``supporthub db requeue``) are taken in within seconds."""
        while True:
            await asyncio.sleep(JOURNAL_LOOK_SECONDS)
            self._intake.wake()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until nothing waits in the intake journal nor is queued or being routed (at
        shutdown and in tests)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    await self._intake.drain(deadline - time.monotonic())
                    await self._idle.wait()
                    if self._intake.idle:  # routing took in nothing new meanwhile
                        return

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        await self.drain()
        await self._intake.close()
        owned = [*self._workers, *self._tasks, *([self._refill] if self._refill else [])]
        for task in owned:
            task.cancel()
        await asyncio.gather(*owned, return_exceptions=True)
        self._workers.clear()

    # routing ---------------------------------------------------------------
    async def route(self, message: Message, *, wait: bool = True) -> bool:
        """Route ``message``; return False if ``wait`` is off and an earlier message of its
        conversation is still to be routed by another process (nothing done)."""
        # one routing at a time per conversation, so quick messages are answered in order
        lock = self._locks.get(message.conversation_id)
        if lock is None:
            lock = self._locks[message.conversation_id] = asyncio.Lock()
        deadline = time.monotonic() + ORDER_WAIT_SECONDS
        delay = 0.02
        while True:
            async with lock:
                if not await self._earlier_elsewhere(message, deadline):
                    await self._route(message)
                    return True
            if not wait:
                return False
            # not holding the lock meanwhile: the earlier message may be routed here
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _earlier_elsewhere(self, message: Message, deadline: float) -> bool:
        """Whether an earlier message of the conversation is still to be routed by another
        process (only where several share the database), and worth waiting for."""
        if not self._store.several_processes:
            return False  # one process: the lock above keeps the order
        if not await self._store.earlier_unrouted(message):
            return False
        if time.monotonic() < deadline:
            return True
        log.warning("message %d: an earlier message of conversation %d is still unrouted"
                    " after %.0f s; answering this one first", message.id,
                    message.conversation_id, ORDER_WAIT_SECONDS)
        return False

    async def _route(self, message: Message) -> None:
        conversation = await self._store.get_conversation(message.conversation_id)
        if conversation is None:
            return
        marked = marks.parse(message.text, message.marks)  # see hub/marks.py
        email = message.channel == EMAIL
        subject = _subject(message) if email else ""
        words = _first_paragraph(marked.text) if email else marked.text
        if not message.marks:
            code = linking.code_in(message.text)
        elif email and not marked.silent:  # mailed: in the subject or the first line
            code = linking.code_in_any([subject, words.split("\n")[0]])
        else:
            code = None
        if code is not None:  # continue elsewhere: a link code (handoff/linking.py)
            await linking.redeem(self._store, self._bus, self.commit, conversation, message,
                                 code)
            return
        target = linking.continue_request(message.text) if not message.marks else \
            linking.continue_request(words) if email and not marked.silent else None
        if target is not None:  # "continue on SMS": a code for the other channel
            username = getattr(self._channels.get("telegram"), "username", None)
            reply = await linking.offer_reply(self._store, self._settings, conversation,
                                              message.channel, target, self._channels, username)
            await self.commit(conversation.id, [reply], handled=message.id)
            return
        if conversation.state is not ConversationState.BOT:
            # a person has it (or it waits for one): the bot stays silent
            await self.commit(conversation.id, (), handled=message.id)
            return
        if marked.silent:  # an edit, an opt-out: kept for the agent, never answered
            await self.commit(conversation.id, (), handled=message.id)
            return
        if marked.greeting:
            await self.commit(conversation.id, [NewMessage(Author.BOT, WELCOME_TEXT)],
                              handled=message.id, expect=BOT_STATES)
            return
        if marked.attachments_only and email:  # files only: for a person to look at
            await self._queue_email(conversation, message)
            return
        if marked.attachments_only:
            await self.commit(conversation.id, [NewMessage(Author.BOT, ATTACHMENT_TEXT)],
                              handled=message.id, expect=BOT_STATES)
            return
        if wants_human(words):
            metrics.HANDOFFS.labels("asked").inc()
            await self.commit(
                conversation.id, [NewMessage(Author.BOT, self._handoff_text(HANDOFF_TEXT))],
                handled=message.id,
                new_state=ConversationState.QUEUED, expect=BOT_STATES, fallback_streak=0,
            )
            return
        thumbs_down = feedback.UNHELPFUL in marked.tags
        if thumbs_down or feedback.is_unhelpful(words):  # "that didn't help"
            found = await feedback.find_unhelpful(self._store, message, thumbs_down)
            if found is not None or thumbs_down:
                if found is not None:
                    await self._store.log_unanswered(found.entry())
                reply = feedback.unhelpful_reply(self._knowledge, found)
                if email and not reply.suggestions:  # no "put it another way" by mail
                    await self._queue_email(conversation, message)
                    return
                await self.commit(conversation.id, [reply], handled=message.id,
                                  expect=BOT_STATES, fallback_streak=0,
                                  events=[NewEvent("unhelpful", article_id=found.article_id
                                                   if found is not None else None)])
                return
        if message.article_id is not None:  # a pressed suggestion button
            await self._answer_choice(conversation, message, message.article_id)
            return
        if email:
            await self._answer_email(conversation, message, f"{subject}\n{words}".strip())
            return
        await self._answer_by_match(conversation, message, marked.text)

    async def _answer_email(
        self, conversation: Conversation, message: Message, question: str
    ) -> None:
        """Email: the bot answers only when it is sure (the ``answer`` outcome, on the subject
        and the first paragraph), offers suggestions as a numbered list, and otherwise hands
        the mail to the agents at once: a "could you put it another way?" costs the customer
        a round trip of minutes."""
        result = self._knowledge.match(question)
        best = result.best
        article = self._knowledge.article(best.article_id) \
            if result.outcome == "answer" and best is not None else None
        if article is not None:
            text = await self._answer_text(message, conversation, article)
            await self.commit(conversation.id, [NewMessage(Author.BOT, text,
                                                           article_id=article.id)],
                              handled=message.id, expect=BOT_STATES, fallback_streak=0)
            return
        if result.outcome in ("answer", "suggest") and result.matches:
            suggestions = tuple(Suggestion(m.article_id, m.title) for m in result.matches[:3])
            await self.commit(
                conversation.id, [NewMessage(Author.BOT, SUGGEST_TEXT, suggestions=suggestions)],
                handled=message.id, expect=BOT_STATES, fallback_streak=0)
            return
        await self._store.log_unanswered(NewUnanswered(
            question, UnansweredKind.FALLBACK, conversation.id, message.id))
        await self._queue_email(conversation, message)

    async def _queue_email(self, conversation: Conversation, message: Message) -> None:
        await self.commit(conversation.id, [NewMessage(Author.BOT, EMAIL_QUEUED_TEXT)],
                          handled=message.id, new_state=ConversationState.QUEUED,
                          expect=BOT_STATES, fallback_streak=0)

    async def _answer_choice(
        self, conversation: Conversation, message: Message, article_id: int
    ) -> None:
        article = self._knowledge.article(article_id)
        if article is None:
            reply = NewMessage(Author.BOT, UNKNOWN_CHOICE_TEXT)
        else:
            metrics.BOT_OUTCOMES.labels("answer").inc()
            text = await self._answer_text(message, conversation, article)
            reply = NewMessage(Author.BOT, text, article_id=article.id)
        outcome = [] if article is None else [NewEvent("answer", article_id=article.id)]
        await self.commit(conversation.id, [reply], handled=message.id, expect=BOT_STATES,
                          fallback_streak=0, events=outcome)

    async def _answer_by_match(
        self, conversation: Conversation, message: Message, text: str
    ) -> None:
        result = self._knowledge.match(text)
        best = result.best
        if result.outcome == "answer" and best is not None:
            article = self._knowledge.article(best.article_id)
            if article is not None:
                metrics.BOT_OUTCOMES.labels("answer").inc()
                await self.commit(
                    conversation.id,
                    [NewMessage(Author.BOT, await self._answer_text(message, conversation, article),
                                article_id=article.id)],
                    handled=message.id, expect=BOT_STATES, fallback_streak=0,
                    events=[NewEvent("answer", article_id=article.id)],
                )
                return
        if result.outcome in ("answer", "suggest") and result.matches:
            suggestions = tuple(Suggestion(m.article_id, m.title) for m in result.matches[:3])
            metrics.BOT_OUTCOMES.labels("suggest").inc()
            await self.commit(
                conversation.id, [NewMessage(Author.BOT, SUGGEST_TEXT, suggestions=suggestions)],
                handled=message.id, expect=BOT_STATES, fallback_streak=0,
                events=[NewEvent("suggest")],
            )
            return
        metrics.BOT_OUTCOMES.labels("fallback").inc()
        await self._store.log_unanswered(NewUnanswered(
            text, UnansweredKind.FALLBACK, conversation.id, message.id))
        streak = conversation.fallback_streak + 1
        if streak >= self._settings.fallbacks_before_handoff:
            metrics.HANDOFFS.labels("fallbacks").inc()
            await self.commit(
                conversation.id,
                [NewMessage(Author.BOT, self._handoff_text(HANDOFF_AFTER_FALLBACKS_TEXT))],
                handled=message.id, new_state=ConversationState.QUEUED, expect=BOT_STATES,
                fallback_streak=0, events=[NewEvent("fallback")],
            )
        else:
            await self.commit(
                conversation.id, [NewMessage(Author.BOT, FALLBACK_TEXT)], handled=message.id,
                expect=BOT_STATES, fallback_streak=streak, events=[NewEvent("fallback")],
            )

    def _handoff_text(self, text: str) -> str:
        """The handoff message; outside business hours it says when a person will answer."""
        if self._hours is None:
            return text
        now = datetime.fromtimestamp(self._store.clock(), UTC)
        opening = self._hours.next_opening(now)
        if opening is None or opening == now:
            return text
        return (f"{text} Our team is away right now: a person will answer from"
                f" {self._hours.describe(opening)}.")

    async def _answer_text(
        self, message: Message, conversation: Conversation, article: Article
    ) -> str:
        """The article's answer for this channel, with the contact's fields filled in."""
        templated = "{{" in article.answer + (article.sms_answer or "")
        contact = await self._store.get_contact(conversation.contact_id) if templated else None
        return feedback.answer_text(article, message.channel, contact)

    # committing turns ----------------------------------------------------------
    async def commit(
        self,
        conversation_id: int,
        replies: Sequence[NewMessage],
        *,
        handled: int | None = None,
        new_state: ConversationState | None = None,
        expect: frozenset[ConversationState] | None = None,
        agent_id: int | None = None,
        require_agent_id: int | None = None,
        fallback_streak: int | None = None,
        events: Sequence[NewEvent] = (),
    ) -> Turn:
        """Write a turn (with ``events``, for the reports), then tell the live views and wake
        the outbox.

        Replies to a channel whose delivery is the store (the web chat) are delivered by
        this commit and the live push: their outbox rows are written as sent, and the
        outbox is woken only for replies to other channels.
        """
        by_store = self._delivered_by_store()
        turn = await self._store.record_turn(
            conversation_id, replies, handled_message_id=handled, new_state=new_state,
            expect_states=expect, agent_id=agent_id, require_agent_id=require_agent_id,
            fallback_streak=fallback_streak, delivered_by_store=by_store, events=events,
        )
        if turn.applied:
            for message in turn.messages:
                if not message.private:
                    metrics.MESSAGES_SENT.labels(message.channel).inc()
                self._bus.publish(MessageCreated(message))
            self._bus.publish(ConversationChanged(turn.conversation))
            if any(not m.private and m.channel not in by_store for m in turn.messages):
                self._on_outbox()
        return turn

    def _delivered_by_store(self) -> frozenset[str]:
        """The channels that are on and whose delivery is the store (``delivered_by_store``
        on the channel; a channel that does not say is delivered through the outbox)."""
        return frozenset(name for name, channel in self._channels.items()
                         if getattr(channel, "delivered_by_store", False))
