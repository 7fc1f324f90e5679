"""The OpenAPI document describes what the server does, checked by schemathesis.

Every operation of ``/api/openapi.json`` is called with generated requests — schema-valid
ones and schema-violating ones, a bounded number of each — as an admin (the web-chat
visitor operations with a visitor token), against a real hub
(aiohttp server, SQLite store on a temp file) running in a thread of its own. Each answer is
checked by schemathesis's checks: no 5xx; every status code, content type and body is the
documented one; a schema-valid request is not refused (no 400/422), a schema-violating one
is; an undeclared method gets 405 with ``Allow``. Logout is left out (it would end the
admin's session); a password reset never targets the admin's own account for the same
reason.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from conftest import Running, admin_headers, bearer, call
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from hub import openapi, validation
from hub.app import create_app
from hub.auth import hash_password
from hub.config import Settings
from hub.core import HUB
from hub.model import Role, storable_text

PASSWORD = "correct horse battery"
EXAMPLES = 6  # per operation and generation mode: the whole run stays well under a minute

schema = schemathesis.openapi.from_dict(openapi.DOCUMENT).exclude(path="/api/v1/auth/logout")
schemathesis.serializer.alias("application/zip", "application/octet-stream")  # raw bytes

# A schema-valid request these operations refuse is no disagreement with the document:
# a WebSocket endpoint answers a plain GET with 400 (schemathesis cannot make the
# handshake), and an import's file contents (CSV, zip, Markdown) are no JSON schema.
NOT_PLAIN_HTTP = frozenset({"/api/v1/agent/ws", "/api/v1/webchat/ws", "/api/v1/kb/import"})
# ...nor is a request that must name what exists (a template, a channel the contact has and
# may be written on now) and is refused with 409/422 when it does not, or that needs one of
# two fields ("text" or "template", the document says so in words)
NAMES_STORED_THINGS = frozenset({"/api/v1/contacts/{id}/notify", "/api/v1/campaigns",
                                 "/api/v1/templates"})


@dataclass
class LiveHub:
    base_url: str
    admin_id: int
    agent_id: int
    headers: dict[str, str]  # the admin's
    visitor_headers: dict[str, str]  # for the operations a visitor token opens


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    """A hub serving on a free port from a thread of its own (schemathesis calls are
    blocking), with an admin logged in and one agent."""
    db = Path(tmp_path_factory.mktemp("conformance")) / "hub.db"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = create_app(Settings(database_url=f"sqlite:///{db}", demo=True,
                              webchat_sessions_per_minute=0))
    runner = web.AppRunner(app)

    async def start() -> tuple[int, int, int]:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        store = app[HUB].store
        admin = await store.create_user("root@example.com", "Root", Role.ADMIN,
                                        await hash_password(PASSWORD))
        agent = await store.create_user("ann@example.com", "Ann", Role.AGENT,
                                        await hash_password(PASSWORD))
        return port, admin.id, agent.id

    port, admin_id, agent_id = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    base_url = f"http://127.0.0.1:{port}"
    login = requests.post(f"{base_url}/api/v1/auth/login", timeout=30,
                          json={"email": "root@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    visitor = requests.post(f"{base_url}/api/v1/webchat/sessions", timeout=30)
    assert visitor.status_code == 201, visitor.text
    try:
        yield LiveHub(base_url, admin_id, agent_id,
                      {"Authorization": f"Bearer {login.json()['token']}"},
                      {"Authorization": f"Bearer {visitor.json()['visitor_token']}"})
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _breaks_a_rule_between_fields(case: Any) -> bool:
    """A rule relating two fields, which JSON Schema cannot state (the document says it in
    words): a suggest threshold above the answer threshold is refused with 422."""
    body = case.body if isinstance(case.body, dict) else {}
    thresholds = body.get("thresholds")
    if case.path != "/api/v1/kb/settings" or not isinstance(thresholds, dict):
        return False
    suggest, answer = thresholds.get("suggest"), thresholds.get("answer")
    return isinstance(suggest, int | float) and isinstance(answer, int | float) \
        and suggest > answer


def _refused_by_a_report_rule(case: Any) -> bool:
    """What a report's query may say that no schema can: an impossible date (2026-02-30),
    ``to`` before ``from``, a channel that is not on, an agent that does not exist — a 422
    naming the parameter."""
    return case.path.startswith("/api/v1/reports/") and bool(
        set(case.query or {}) & {"from", "to", "channel", "agent_id"})


def _carries_unstorable_text(value: Any) -> bool:
    """A NUL or a lone surrogate anywhere in a body: refused with 422, as the document's
    description says in words (no JSON Schema pattern can exclude a lone surrogate)."""
    if isinstance(value, str):
        return not storable_text(value)
    if isinstance(value, dict):
        return any(_carries_unstorable_text(k) or _carries_unstorable_text(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_carries_unstorable_text(v) for v in value)
    return False


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_server_does_what_the_document_says(case: Any, live_hub: LiveHub) -> None:
    if case.path == "/api/v1/agents/{id}/password" \
            and case.path_parameters.get("id") == live_hub.admin_id:
        case.path_parameters["id"] = live_hub.agent_id  # the admin stays logged in
    excluded = [positive_data_acceptance] \
        if case.path in NOT_PLAIN_HTTP | NAMES_STORED_THINGS \
        or _breaks_a_rule_between_fields(case) or _refused_by_a_report_rule(case) \
        or _carries_unstorable_text(case.body) else []
    visitor = case.operation.definition.raw.get("security") == [{"visitorToken": []}]
    case.call_and_validate(base_url=live_hub.base_url,
                           headers=live_hub.visitor_headers if visitor else live_hub.headers,
                           excluded_checks=excluded)


def test_the_session_survived_the_run(live_hub: LiveHub) -> None:
    """Else the run above proved little: every answer would have been a 401."""
    me = requests.get(f"{live_hub.base_url}/api/v1/auth/me", headers=live_hub.headers,
                      timeout=30)
    assert me.status_code == 200, me.text


# what the first schemathesis run found, pinned ---------------------------------------------
async def test_a_405_says_what_is_allowed(hub: Running) -> None:
    for method, path, allowed in [
            ("TRACE", "/healthz", {"GET", "HEAD"}),
            ("DELETE", "/api/v1/conversations", {"GET", "HEAD"}),
            ("PUT", "/api/v1/webchat/messages", {"GET", "HEAD", "POST"})]:
        resp = await hub.client.request(method, path)
        assert resp.status == 405, path
        assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed, path
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_requests_the_document_forbids_are_refused_and_change_nothing(
        hub: Running) -> None:
    admin = await admin_headers(hub)
    agent = await hub.add_user("ann@example.com")
    me = (await call(hub, "GET", "/api/v1/auth/me", agent))["user"]
    article = (await call(hub, "GET", "/api/v1/articles", agent))["articles"][0]
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", "/api/v1/conversations?state=", None, 422),
        ("GET", "/api/v1/conversations?agent=", None, 422),
        ("GET", "/api/v1/conversations?agent=%C2%B2", None, 422),  # a digit, but not 0-9
        ("PATCH", f"/api/v1/articles/{article['id']}", None, 400),  # no body
        ("PATCH", f"/api/v1/agents/{me['id']}", None, 400),
        ("POST", "/api/v1/agents", {"email": "x@example.com", "password": None}, 422),
        ("POST", f"/api/v1/agents/{me['id']}/password", {"password": None}, 422),
        ("PUT", "/api/v1/kb/settings", {"synonyms": {}, "other": 1}, 422),
        ("POST", "/api/v1/articles/1/restore", {"revision_id": 2**64}, 422),
        ("GET", f"/api/v1/conversations/{2**64}", None, 404),
    ]
    for method, path, body, status in cases:
        resp = await hub.client.request(method, path, json=body, headers=admin)
        assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
        assert set((await resp.json())["error"]) >= {"code", "message"}
    assert (await call(hub, "GET", f"/api/v1/articles/{article['id']}", agent)) \
        ["title"] == article["title"]
    assert (await call(hub, "GET", "/api/v1/auth/me", agent))["user"]["name"] == me["name"]


async def test_a_query_parameter_given_twice_is_refused(hub: Running) -> None:
    """``?after=5&after=`` was answered from the first value (all messages): a documented
    parameter given twice is a 422 naming it; one the operation does not take is ignored."""
    visitor = await hub.visitor()
    await visitor.say("hello")
    twice = await hub.client.get("/api/v1/webchat/messages?after=1&after=",
                                 headers=visitor.headers)
    assert twice.status == 422
    assert (await twice.json())["error"]["message"] == \
        "query parameter 'after' is given more than once"
    unknown = await hub.client.get("/api/v1/articles?utm=a&utm=b",
                                   headers=bearer(await hub.add_user("ann@example.com")))
    assert unknown.status == 200


async def test_a_bad_field_is_named_in_the_error(hub: Running) -> None:
    admin = await admin_headers(hub)
    for body, message in [
        ({"questions": ["q"], "answer": "a"}, "field 'title' is required"),
        ({"title": "  ", "questions": ["q"], "answer": "a"}, "field 'title' is empty"),
        ({"title": "t", "questions": "q", "answer": "a"}, "field 'questions' must be a list"),
        ({"title": "t", "questions": ["q"], "answer": "a", "status": "live"},
         "field 'status' must be one of 'published', 'draft'"),
    ]:
        resp = await hub.client.post("/api/v1/articles", json=body, headers=admin)
        assert resp.status == 422
        assert (await resp.json())["error"]["message"] == message


def test_every_body_a_handler_checks_is_a_schema_the_document_publishes() -> None:
    root = Path(__file__).resolve().parent.parent
    named = set()
    for package in ("hub", "bots", "handoff", "knowledge"):
        for source in (root / package).rglob("*.py"):
            named |= set(re.findall(r'json_body\(request, "(\w+)"\)', source.read_text()))
    published = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                 .rsplit("/", 1)[1]
                 for ops in openapi.DOCUMENT["paths"].values() for op in ops.values()
                 if "$ref" in op.get("requestBody", {}).get("content", {})
                 .get("application/json", {}).get("schema", {})}
    assert len(named) >= 20
    assert named == published, (named ^ published)
    for name in named:  # each compiles, and an empty object is judged, not crashed on
        problem = validation.body_problem(name, {})
        assert problem is None or problem.startswith(("field", "the body")), problem
