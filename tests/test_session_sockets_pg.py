"""Ending a session closes its live sockets in every hub process: two hubs on one PostgreSQL
schema, the socket open on A, the session ended through B. The periodic check is off (300 s),
so only the session-ended event relayed by LISTEN/NOTIFY (hub/relay.py) can close it."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, HubFactory, admin_headers, bearer, call
from test_session_sockets import agent_socket, assert_closed, assert_still_streaming


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def test_deactivation_through_b_closes_the_socket_on_a(start_hub: HubFactory) -> None:
    a = await start_hub(session_check_seconds=300)
    b = await start_hub(session_check_seconds=300, demo=False)
    token = await a.add_user("ann@example.com")
    ann = await call(a, "GET", "/api/v1/auth/me", token)
    bystander = await agent_socket(a, await a.add_user("bob@example.com"))
    ws = await agent_socket(a, token)
    await assert_still_streaming(a, ws)
    admin = await admin_headers(b)
    resp = await b.client.patch(f"/api/v1/agents/{ann['user']['id']}", json={"active": False},
                                headers=admin)
    assert resp.status == 200, await resp.text()
    await assert_closed(ws, since=time.monotonic())  # within a second of the end
    await assert_still_streaming(a, bystander)
    await bystander.close()


async def test_logout_through_b_closes_the_sessions_socket_on_a(start_hub: HubFactory) -> None:
    a = await start_hub(session_check_seconds=300)
    b = await start_hub(session_check_seconds=300, demo=False)
    token = await a.add_user("ann@example.com")
    other = await call(a, "POST", "/api/v1/auth/login", "",
                       {"email": "ann@example.com", "password": PASSWORD})
    a.client.session.cookie_jar.clear()
    ws, kept = await agent_socket(a, token), await agent_socket(a, other["token"])
    await call(b, "POST", "/api/v1/auth/logout", token)
    await assert_closed(ws, since=time.monotonic())
    assert (await b.client.get("/api/v1/auth/me", headers=bearer(token))).status == 401
    await assert_still_streaming(a, kept)  # ann's other session goes on
    await kept.close()
