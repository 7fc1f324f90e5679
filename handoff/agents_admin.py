"""Agent administration (admins): the ``/admin/agents`` page and its API — invite or create,
deactivate (their sessions end in the same transaction), reset a password, change a role —
and each agent's own status (online/away), which automatic assignment reads."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.auth import admin_page, hash_password, require_user
from hub.core import Hub, hub_of
from hub.errors import ApiError, field, json_body, path_id
from hub.model import Role, User
from hub.store import Conflict, NotFound

STATIC = Path(__file__).parent / "static"
STATUSES = ("online", "away")
MIN_PASSWORD = 10




def agent_json(user: User, open_count: int = 0) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role.value,
            "active": user.active, "status": user.status, "open_conversations": open_count}


def _role(body: dict[str, Any], required: bool) -> Role | None:
    name = field(body, "role", str, required=required)
    if name is None:
        return None
    try:
        return Role(name)
    except ValueError:
        raise ApiError(422, "field 'role' must be 'agent' or 'admin'") from None


def _password(body: dict[str, Any]) -> tuple[str, bool]:
    """The given password, or a generated one (True: show it to the admin once)."""
    given = field(body, "password", str, required=False)
    if given is None:
        return secrets.token_urlsafe(12), True
    if len(given) < MIN_PASSWORD:
        raise ApiError(422, f"field 'password' must have at least {MIN_PASSWORD} characters")
    return given, False


async def _user(hub: Hub, user_id: int) -> User:
    user = await hub.store.get_user(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def agents_page(request: web.Request) -> web.StreamResponse:
    return await admin_page(request, hub_of(request).store, STATIC / "agents.html")


async def list_agents(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    counts = await hub.store.open_counts()
    return web.json_response({"agents": [agent_json(u, counts.get(u.id, 0))
                                         for u in await hub.store.list_users()]})


async def create_agent(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    body = await json_body(request, "NewAgent")
    email = field(body, "email", str).strip().lower()
    if "@" not in email or len(email) > 200:
        raise ApiError(422, "field 'email' must be an email address")
    name = (field(body, "name", str, required=False) or email.split("@")[0]).strip()
    role = _role(body, required=False) or Role.AGENT
    password, generated = _password(body)
    try:
        user = await hub.store.create_user(email, name, role, await hash_password(password))
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    result = agent_json(user)
    if generated:
        result["password"] = password  # shown once, for the admin to hand over
    return web.json_response(result, status=201)


async def update_agent(request: web.Request) -> web.Response:
    hub = hub_of(request)
    admin = await require_user(request, hub.store, Role.ADMIN)
    user_id = path_id(request)
    before = await _user(hub, user_id)
    body = await json_body(request, "AgentPatch")
    role = _role(body, required=False)
    active = field(body, "active", bool, required=False)
    name = field(body, "name", str, required=False)
    if user_id == admin.id and (active is False or role is Role.AGENT):
        raise ApiError(403, "you cannot deactivate or demote yourself")
    user = await hub.store.update_user(user_id, name=name.strip() if name else None,
                                       role=role, active=active)
    if user.role is not before.role:  # a new role: they log in again to get its rights
        await hub.store.delete_user_sessions(user_id)
    if user.role is not before.role or not user.active:  # their sockets close at once
        hub.sessions_ended(user_id)
    return web.json_response(agent_json(user))


async def reset_password(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    user_id = path_id(request)
    user = await _user(hub, user_id)
    password, generated = _password(await json_body(request, "PasswordReset"))
    # the store ends the user's sessions with the change
    await hub.store.update_user_password(user.email, await hash_password(password))
    hub.sessions_ended(user.id)
    return web.json_response({"ok": True, **({"password": password} if generated else {})})


async def set_status(request: web.Request) -> web.Response:
    hub = hub_of(request)
    me = await require_user(request, hub.store)
    status = field(await json_body(request, "AgentStatus"), "status", str)
    if status not in STATUSES:
        raise ApiError(422, "field 'status' must be 'online' or 'away'")
    user = await hub.store.update_user(me.id, status=status)
    return web.json_response(agent_json(user))


def agents_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/admin/agents", agents_page),
        web.get("/api/v1/agents", list_agents),
        web.post("/api/v1/agents", create_agent),
        web.patch("/api/v1/agents/{id}", update_agent),
        web.post("/api/v1/agents/{id}/password", reset_password),
        web.post("/api/v1/agent/status", set_status),
    ]
