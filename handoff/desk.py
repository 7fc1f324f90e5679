"""The human side of a conversation: claim, release, resolve, reply.

Each action is one store transaction guarded by the state it expects, so two agents
claiming at the same moment cannot both win: the second finds the conversation already
assigned and gets :class:`~hub.store.Conflict`.

The desk writes its turns through a :class:`TurnWriter` the app factory hands it (the
pipeline's ``commit``: store, live views, outbox), so handoff never imports the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from handoff import survey
from hub.cycles import NewEvent
from hub.model import Author, Conversation, ConversationState, Message, NewMessage, User
from hub.store import Conflict, NotFound, Store, Turn

CLAIMABLE = frozenset({ConversationState.QUEUED, ConversationState.BOT})
RESOLVABLE = frozenset(
    {ConversationState.QUEUED, ConversationState.BOT, ConversationState.ASSIGNED}
)
ASSIGNED = frozenset({ConversationState.ASSIGNED})


class TurnWriter(Protocol):
    """Commits a turn and tells whoever must know (``hub.pipeline.Pipeline`` is one)."""

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
    ) -> Turn: ...


class HandoffDesk:
    def __init__(self, store: Store, turns: TurnWriter, csat: bool = True) -> None:
        self._store = store
        self._turns = turns
        self._csat = csat  # ask "how did we do?" after every resolution (handoff/survey.py)

    async def _get(self, conversation_id: int) -> Conversation:
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    async def claim(self, conversation_id: int, agent: User) -> Conversation:
        await self._get(conversation_id)
        turn = await self._turns.commit(
            conversation_id,
            [NewMessage(Author.SYSTEM, f"{agent.name} joined the conversation.")],
            new_state=ConversationState.ASSIGNED, expect=CLAIMABLE, agent_id=agent.id,
        )
        if not turn.applied:
            current = turn.conversation
            who = current.assigned_agent_name or "another agent"
            raise Conflict(
                f"conversation {conversation_id} is {current.state.value}"
                + (f" (claimed by {who})" if current.state is ConversationState.ASSIGNED else "")
            )
        return turn.conversation

    async def release(self, conversation_id: int, agent: User) -> Conversation:
        await self._get(conversation_id)
        turn = await self._turns.commit(
            conversation_id,
            [NewMessage(Author.SYSTEM, f"{agent.name} handed the conversation back to the queue;"
                        " another person will be with you shortly.")],
            new_state=ConversationState.QUEUED, expect=ASSIGNED, require_agent_id=agent.id,
        )
        if not turn.applied:
            raise Conflict(f"conversation {conversation_id} is not assigned to you")
        return turn.conversation

    async def resolve(self, conversation_id: int, agent: User) -> Conversation:
        current = await self._get(conversation_id)
        if current.state is ConversationState.ASSIGNED and current.assigned_agent_id != agent.id \
                and agent.role.value != "admin":
            raise Conflict(f"conversation {conversation_id} is assigned to someone else")
        replies = [NewMessage(Author.SYSTEM, "This conversation was marked as resolved. "
                              "Write again any time if you need anything else.")]
        if self._csat:
            replies.append(survey.question())
        turn = await self._turns.commit(
            conversation_id, replies, new_state=ConversationState.RESOLVED, expect=RESOLVABLE,
            fallback_streak=0, agent_id=agent.id,  # the resolution is credited to them
            events=[NewEvent("csat_asked")] if self._csat else (),
        )
        if not turn.applied:
            raise Conflict(f"conversation {conversation_id} is already resolved")
        return turn.conversation

    async def reply(
        self, conversation_id: int, agent: User, text: str, channel: str | None = None
    ) -> Message:
        await self._get(conversation_id)
        turn = await self._turns.commit(
            conversation_id,
            [NewMessage(Author.AGENT, text, agent_id=agent.id, channel=channel)],
            expect=ASSIGNED, require_agent_id=agent.id,
        )
        if not turn.applied:
            raise Conflict("claim the conversation before replying")
        return turn.messages[0]
