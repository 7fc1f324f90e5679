"""What an agent and an admin do through the HTTP API, shared by the channel tests."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import Running

from hub.model import Role


async def take_over_and_reply(running: Running, channel: str, external_id: str,
                              text: str, agent_name: str = "Ann") -> int:
    """The customer's conversation (queued after a handoff) is claimed by a new agent, who
    replies ``text``; return the conversation id."""
    conversation = await running.hub.store.find_conversation(channel, external_id)
    assert conversation is not None, f"no conversation for {channel}:{external_id}"
    assert conversation.state.value == "queued", conversation.state
    token = await running.add_user(f"{agent_name.lower()}@example.com", name=agent_name)
    headers = {"Authorization": f"Bearer {token}"}
    claim = await running.client.post(f"/api/v1/conversations/{conversation.id}/claim",
                                      headers=headers)
    assert claim.status == 200, await claim.text()
    reply = await running.client.post(f"/api/v1/conversations/{conversation.id}/messages",
                                      json={"text": text}, headers=headers)
    assert reply.status == 201, await reply.text()
    return conversation.id


async def dead_letters(running: Running, count: int = 1,
                       timeout: float = 8.0) -> list[dict[str, Any]]:
    """Poll (bounded) ``GET /api/v1/outbox/dead`` as an admin until ``count`` items show."""
    email = "admin@example.com"
    token = running.tokens.get(email) or await running.add_user(email, Role.ADMIN)
    async with asyncio.timeout(timeout):
        while True:
            resp = await running.client.get("/api/v1/outbox/dead",
                                            headers={"Authorization": f"Bearer {token}"})
            assert resp.status == 200, await resp.text()
            items: list[dict[str, Any]] = (await resp.json())["dead_letters"]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.05)


async def thread(running: Running, channel: str, external_id: str) -> list[dict[str, Any]]:
    """The conversation's messages as an agent sees them."""
    conversation = await running.hub.store.find_conversation(channel, external_id)
    assert conversation is not None
    messages = await running.hub.store.list_messages(conversation.id)
    return [{"author": m.author.value, "text": m.text, "channel": m.channel,
             "suggestions": m.suggestions} for m in messages]
