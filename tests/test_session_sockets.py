"""A live agent socket lives only as long as the session that opened it: logout, deactivation,
a password reset, a role change and the session's expiry close it within a second, and
nothing more reaches it. (On PostgreSQL, across processes: test_session_sockets_pg.py.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from conftest import HubFactory, Running, admin_headers, bearer, call, next_frame

from hub.model import Role
from hub.sessions import SESSION_ENDED_CLOSE_CODE

CLOSE_WITHIN = 1.0


async def agent_socket(hub: Running, token: str) -> aiohttp.ClientWebSocketResponse:
    """The console's live socket, opened with the token as a browser would (in the URL)."""
    return await hub.client.ws_connect(f"/api/v1/agent/ws?token={token}")


async def assert_closed(ws: aiohttp.ClientWebSocketResponse, within: float = CLOSE_WITHIN,
                        since: float | None = None) -> None:
    """The server closes ``ws`` as a session end, within ``within`` seconds of ``since``
    (frames of events from before the end may come first)."""
    started = time.monotonic() if since is None else since
    async with asyncio.timeout(within + 5):  # fail with a clear message, not a hang
        msg = await ws.receive()
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await ws.receive()
    elapsed = time.monotonic() - started
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
    assert ws.close_code == SESSION_ENDED_CLOSE_CODE
    assert elapsed <= within, f"closed after {elapsed:.2f}s"


async def assert_still_streaming(hub: Running, ws: aiohttp.ClientWebSocketResponse) -> None:
    visitor = await hub.visitor()
    text = f"still there? {uuid.uuid4().hex[:8]}"
    await visitor.say(text)
    frame = await next_frame(ws, type="message", message__text=text)
    assert frame["message"]["conversation_id"] == visitor.conversation_id


async def _logout(hub: Running, admin: dict[str, str], token: str, user_id: int) -> None:
    await call(hub, "POST", "/api/v1/auth/logout", token)


async def _deactivate(hub: Running, admin: dict[str, str], token: str, user_id: int) -> None:
    resp = await hub.client.patch(f"/api/v1/agents/{user_id}", json={"active": False},
                                  headers=admin)
    assert resp.status == 200, await resp.text()


async def _reset_password(hub: Running, admin: dict[str, str], token: str,
                          user_id: int) -> None:
    resp = await hub.client.post(f"/api/v1/agents/{user_id}/password", json={},
                                 headers=admin)
    assert resp.status == 200, await resp.text()


async def _demote(hub: Running, admin: dict[str, str], token: str, user_id: int) -> None:
    resp = await hub.client.patch(f"/api/v1/agents/{user_id}", json={"role": "agent"},
                                  headers=admin)
    assert resp.status == 200, await resp.text()


Ending = Callable[[Running, dict[str, str], str, int], Awaitable[None]]


async def _ends_the_socket(start_hub: HubFactory, end: Ending, role: Role) -> None:
    # no periodic check within the test: only the session-ended event can close the socket
    hub = await start_hub(session_check_seconds=300)
    admin = await admin_headers(hub)
    token = await hub.add_user("ann@example.com", role)
    me = await call(hub, "GET", "/api/v1/auth/me", token)
    other = await hub.add_user("bob@example.com")  # another agent's socket stays open
    ws, bystander = await agent_socket(hub, token), await agent_socket(hub, other)
    await assert_still_streaming(hub, ws)
    await end(hub, admin, token, me["user"]["id"])
    await assert_closed(ws, since=time.monotonic())  # within a second of the end
    resp = await hub.client.get("/api/v1/auth/me", headers=bearer(token))
    assert resp.status == 401  # and the session is over for REST too
    await assert_still_streaming(hub, bystander)
    await bystander.close()


async def test_logout_closes_the_sessions_socket(start_hub: HubFactory) -> None:
    await _ends_the_socket(start_hub, _logout, Role.AGENT)


async def test_deactivation_closes_the_agents_socket(start_hub: HubFactory) -> None:
    await _ends_the_socket(start_hub, _deactivate, Role.AGENT)


async def test_password_reset_closes_the_agents_socket(start_hub: HubFactory) -> None:
    await _ends_the_socket(start_hub, _reset_password, Role.AGENT)


async def test_demotion_closes_the_admins_socket(start_hub: HubFactory) -> None:
    await _ends_the_socket(start_hub, _demote, Role.ADMIN)


async def test_logout_of_one_session_leaves_the_others_open(start_hub: HubFactory) -> None:
    hub = await start_hub(session_check_seconds=300)
    first = await hub.add_user("ann@example.com")
    second = (await call(hub, "POST", "/api/v1/auth/login", "",
                         {"email": "ann@example.com", "password": "correct horse battery"}))
    hub.client.session.cookie_jar.clear()  # each socket is opened by its own token
    ws_first, ws_second = await agent_socket(hub, first), await agent_socket(hub, second["token"])
    await call(hub, "POST", "/api/v1/auth/logout", first)
    await assert_closed(ws_first)
    await assert_still_streaming(hub, ws_second)
    await ws_second.close()


async def test_an_expired_sessions_socket_is_closed(start_hub: HubFactory) -> None:
    hub = await start_hub(session_ttl=2, session_check_seconds=0.2)
    token = await hub.add_user("ann@example.com")
    logged_in = time.monotonic()
    ws = await agent_socket(hub, token)
    await assert_still_streaming(hub, ws)
    # the session expires 2 s after login; the socket goes within a second of that
    await assert_closed(ws, within=2 + CLOSE_WITHIN, since=logged_in)
    assert (await hub.client.get("/api/v1/auth/me", headers=bearer(token))).status == 401


async def test_a_socket_of_an_ended_session_cannot_reopen(start_hub: HubFactory) -> None:
    hub = await start_hub()
    token = await hub.add_user("ann@example.com")
    await call(hub, "POST", "/api/v1/auth/logout", token)
    try:
        await hub.client.ws_connect(f"/api/v1/agent/ws?token={token}")
    except aiohttp.WSServerHandshakeError as refused:
        assert refused.status == 401
    else:
        raise AssertionError("the socket of an ended session opened")

