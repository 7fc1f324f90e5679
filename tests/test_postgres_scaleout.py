"""Two real hub processes on one PostgreSQL schema: one hub.

Each test migrates a fresh schema with ``python -m hub db migrate``, creates users with
``python -m hub user add``, imports the demo knowledge base, and starts two
``python -m hub serve`` processes (A and B) on free ports of 127.0.0.1. Their outbox
delivers to the test's own HTTP recorder through the sink channel (bots/sink.py). Every
wait is bounded; the processes are killed at the end whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import PASSWORD, HubFactory, next_frame, pg_schema
from fakes.net import free_port

from hub.model import Author, InboundMessage, NewMessage
from hub.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ("ann@example.com", "bob@example.com")
ADMIN = "root@example.com"


def hub_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTHUB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


async def run_cli(*args: str, stdin: str = "", timeout: float = 30) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=hub_env(),
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    assert proc.returncode == 0, f"supporthub {' '.join(args)} failed:\n{out.decode()}"
    return out.decode()


@dataclass
class Sink:
    """The platform the sink channel posts to: records every delivery by outbox id.

    With ``trap`` on, the first process to have ``trap_after`` deliveries answered becomes
    ``trap_node`` (which process leases first is up to the race between them): its further
    requests are held unanswered — deliveries in flight when it gets killed."""

    received: list[tuple[int, str]] = field(default_factory=list)  # (outbox id, node pid)
    acked: Counter[int] = field(default_factory=Counter)
    acked_by: Counter[str] = field(default_factory=Counter)
    held: set[int] = field(default_factory=set)
    trap: bool = False
    trap_node: str | None = None
    trap_after: int = 10
    trapped: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        node = request.headers["X-Supporthub-Node"]
        outbox_id = int(body["outbox_id"])
        assert request.headers["Idempotency-Key"] == f"outbox-{outbox_id}"
        self.received.append((outbox_id, node))
        if self.trap and self.trap_node is None and self.acked_by[node] >= self.trap_after:
            self.trap_node = node
        if node == self.trap_node:
            self.held.add(outbox_id)
            self.trapped.set()
            await self.release.wait()  # never answered to that process
            return web.Response(status=503)
        await asyncio.sleep(0.01)
        self.acked[outbox_id] += 1
        self.acked_by[node] += 1
        return web.json_response({"ok": True})


@dataclass
class Node:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> str:
        return str(self.proc.pid)


@dataclass
class Cluster:
    db_url: str
    a: Node
    b: Node
    sink: Sink
    http: aiohttp.ClientSession

    async def login(self, node: Node, email: str) -> dict[str, str]:
        async with self.http.post(f"{node.base}/api/v1/auth/login",
                                  json={"email": email, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            return {"Authorization": f"Bearer {(await resp.json())['token']}"}

    async def visitor(self, node: Node) -> tuple[str, int]:
        async with self.http.post(f"{node.base}/api/v1/webchat/sessions", json={}) as resp:
            assert resp.status == 201, await resp.text()
            body = await resp.json()
            return body["visitor_token"], body["conversation_id"]

    async def say(self, node: Node, token: str, text: str) -> dict[str, Any]:
        async with self.http.post(f"{node.base}/api/v1/webchat/messages", json={"text": text},
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 201, await resp.text()
            message: dict[str, Any] = (await resp.json())["message"]
            return message

    async def replies(self, node: Node, token: str, after: int, timeout: float = 5.0,
                      ) -> list[dict[str, Any]]:
        """The answers to the message ``after``, once there is one."""
        async with asyncio.timeout(timeout):
            while True:
                async with self.http.get(f"{node.base}/api/v1/webchat/messages",
                                         params={"after": str(after)},
                                         headers={"Authorization": f"Bearer {token}"}) as resp:
                    found = [m for m in (await resp.json())["messages"]
                             if m["author"] != "customer"]
                if found:
                    return found
                await asyncio.sleep(0.05)


async def start_node(name: str, db_url: str, sink_url: str, tmp: Path) -> Node:
    port = free_port()
    log = tmp / f"hub-{name}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub", "serve", "--port", str(port), "--db", db_url,
            stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=tmp,
            env=hub_env(SUPPORTHUB_TEST_SINK_URL=sink_url, SUPPORTHUB_OUTBOX_BASE_DELAY="0.1"),
        )
    return Node(name, port, proc, log)


async def wait_ready(http: aiohttp.ClientSession, node: Node, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.returncode is not None:
            break
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{node.base}/readyz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    pytest.fail(f"hub {node.name} did not become ready:\n{node.log.read_text()[-3000:]}")


async def wait_articles(http: aiohttp.ClientSession, node: Node, count: int) -> None:
    async with asyncio.timeout(5):
        while True:
            async with http.get(f"{node.base}/metrics") as resp:
                if f"supporthub_knowledge_articles {float(count)}\n" in await resp.text():
                    return
            await asyncio.sleep(0.05)


async def stop_node(node: Node) -> None:
    if node.proc.returncode is None:
        node.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(node.proc.wait(), 10)
        except TimeoutError:
            node.proc.kill()
            await node.proc.wait()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/deliver", sink.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    sink_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", sink_port).start()
    sink.url = f"http://127.0.0.1:{sink_port}/deliver"
    nodes: list[Node] = []
    async with pg_schema(migrate=False) as db_url, aiohttp.ClientSession() as http:
        try:
            await run_cli("db", "migrate", "--db", db_url)
            nodes = [await start_node(n, db_url, sink.url, tmp_path) for n in "AB"]
            await asyncio.gather(
                *(run_cli("user", "add", email, "--role", "agent", "--password-stdin",
                          "--db", db_url, stdin=PASSWORD + "\n") for email in AGENTS),
                run_cli("user", "add", ADMIN, "--role", "admin", "--password-stdin",
                        "--db", db_url, stdin=PASSWORD + "\n"),
                *(wait_ready(http, node) for node in nodes),
            )
            # imported while both run: the CLI's NOTIFY makes them reload
            await run_cli("kb", "import", str(ROOT / "knowledge" / "demo_kb.json"),
                          "--db", db_url)
            await asyncio.gather(*(wait_articles(http, node, 30) for node in nodes))
            yield Cluster(db_url, nodes[0], nodes[1], sink, http)
        finally:
            sink.release.set()
            await asyncio.gather(*(stop_node(node) for node in nodes))
            await runner.cleanup()


async def test_a_message_at_a_is_live_at_b_and_the_reply_through_b_reaches_a(
    cluster: Cluster,
) -> None:
    a, b, http = cluster.a, cluster.b, cluster.http
    agent = await cluster.login(b, AGENTS[0])
    token, conversation_id = await cluster.visitor(a)
    async with http.ws_connect(f"{b.base}/api/v1/agent/ws", headers=agent) as console, \
            http.ws_connect(f"{a.base}/api/v1/webchat/ws?token={token}") as customer:
        started = time.monotonic()
        await cluster.say(a, token, "I want to talk to a human")
        frame = await next_frame(console, timeout=1.0, type="message",
                                 message__author="customer")
        assert frame["message"]["text"] == "I want to talk to a human"
        assert frame["message"]["conversation_id"] == conversation_id
        queued = await next_frame(console, timeout=2.0, type="conversation",
                                  conversation__state="queued")
        assert queued["conversation"]["id"] == conversation_id
        assert time.monotonic() - started < 2.0

        claim = await http.post(f"{b.base}/api/v1/conversations/{conversation_id}/claim",
                                headers=agent)
        assert claim.status == 200, await claim.text()
        sent = await http.post(f"{b.base}/api/v1/conversations/{conversation_id}/messages",
                               json={"text": "Hi, Ann here, from B."}, headers=agent)
        assert sent.status == 201, await sent.text()
        started = time.monotonic()
        live = await next_frame(customer, timeout=1.0, type="message",
                                message__author="agent")
        assert live["message"]["text"] == "Hi, Ann here, from B."
        assert time.monotonic() - started < 1.0

        # typing indicators cross the processes too, both ways
        await customer.send_json({"type": "typing"})
        typing = await next_frame(console, timeout=1.0, type="typing")
        assert typing["conversation_id"] == conversation_id
        await console.send_json({"type": "typing", "conversation_id": conversation_id})
        typing = await next_frame(customer, timeout=1.0, type="typing")
        assert typing["author"] == "agent" and typing["name"]


async def test_two_agents_on_two_processes_claim_at_once_exactly_one_wins(
    cluster: Cluster,
) -> None:
    a, b, http = cluster.a, cluster.b, cluster.http
    ann = await cluster.login(a, AGENTS[0])
    bob = await cluster.login(b, AGENTS[1])
    for _ in range(3):
        token, conversation_id = await cluster.visitor(a)
        asked = await cluster.say(a, token, "agent please")
        await cluster.replies(a, token, asked["id"])  # queued now
        path = f"/api/v1/conversations/{conversation_id}/claim"
        responses = await asyncio.gather(http.post(a.base + path, headers=ann),
                                         http.post(b.base + path, headers=bob))
        assert sorted(r.status for r in responses) == [200, 409]
        async with http.get(f"{b.base}/api/v1/conversations/{conversation_id}",
                            headers=bob) as resp:
            thread = await resp.json()
        assert [m["author"] for m in thread["messages"]].count("system") == 1


async def seed_outbox(db_url: str, recipients: int, per_recipient: int) -> set[int]:
    """Replies to the sink channel, committed first and then made due all at once."""
    store = PostgresStore(db_url)
    await store.open(migrate=False)
    try:
        for n in range(recipients):
            msg = await store.ingest(InboundMessage("sink", f"r{n}", "question"))
            await store.record_turn(
                msg.conversation.id,
                [NewMessage(Author.BOT, f"reply {k} to r{n}") for k in range(per_recipient)],
                handled_message_id=msg.message.id,
            )
        async with store.connection() as conn:
            await conn.execute("UPDATE outbox SET next_attempt_at = 1e12")  # not due yet
            ids = {r["id"] for r in await conn.fetch("SELECT id FROM outbox")}
            await conn.execute("UPDATE outbox SET next_attempt_at = 0")
        return ids
    finally:
        await store.close()


async def test_outbox_exactly_once_across_processes_even_when_one_is_killed(
    cluster: Cluster,
) -> None:
    sink = cluster.sink
    sink.trap = True
    ids = await seed_outbox(cluster.db_url, recipients=40, per_recipient=5)
    assert len(ids) == 200
    await asyncio.wait_for(sink.trapped.wait(), 15)
    await asyncio.sleep(0.3)  # let the victim put more deliveries in flight
    victim, survivor = ((cluster.a, cluster.b) if sink.trap_node == cluster.a.pid
                        else (cluster.b, cluster.a))
    victim.proc.kill()  # kill -9, mid-delivery
    await victim.proc.wait()
    held_at_kill = set(sink.held)
    assert held_at_kill, "the victim had nothing in flight when it was killed"

    async with asyncio.timeout(20):
        while set(sink.acked) != ids:
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # anything doubled would arrive by now
    # every reply was acknowledged exactly once: the victim's before the kill, the rest by the survivor
    assert all(count == 1 for count in sink.acked.values()), sink.acked.most_common(3)
    assert sink.acked_by[victim.pid] >= sink.trap_after
    assert sink.acked_by[survivor.pid] > 0
    # the only repeats: deliveries in flight when the victim died, never acknowledged to it
    times_sent = Counter(outbox_id for outbox_id, _ in sink.received)
    repeated = {outbox_id for outbox_id, count in times_sent.items() if count > 1}
    assert repeated <= held_at_kill
    store = PostgresStore(cluster.db_url)
    await store.open(migrate=False)
    try:
        stats = await store.outbox_stats()
    finally:
        await store.close()
    assert (stats.pending, stats.sent, stats.dead) == (0, 200, 0)


async def test_a_knowledge_edit_through_a_is_used_by_b(cluster: Cluster) -> None:
    a, b, http = cluster.a, cluster.b, cluster.http
    admin = await cluster.login(a, ADMIN)
    agent = await cluster.login(b, AGENTS[0])
    async with http.get(f"{a.base}/api/v1/kb/match", params={"q": "how long is shipping"},
                        headers=admin) as resp:
        article_id = (await resp.json())["matches"][0]["article_id"]
    async with http.get(f"{a.base}/api/v1/articles/{article_id}", headers=admin) as resp:
        questions = (await resp.json())["questions"]
    phrasing = "does the carrier pigeon bring my parcel"
    new_answer = "Shipping now takes exactly 2 days, by carrier pigeon."
    patched = await http.patch(f"{a.base}/api/v1/articles/{article_id}", headers=admin,
                               json={"answer": new_answer, "questions": [*questions, phrasing]})
    assert patched.status == 200, await patched.text()
    edited = time.monotonic()
    # B hears of the edit (LISTEN/NOTIFY) and rebuilds its matcher, well within a second
    async with asyncio.timeout(1.0):
        while True:
            async with http.get(f"{b.base}/api/v1/kb/match", params={"q": phrasing},
                                headers=agent) as resp:
                best = (await resp.json())["matches"][:1]
            if best and best[0]["article_id"] == article_id:
                break
            await asyncio.sleep(0.01)
    assert time.monotonic() - edited < 1.0
    # and B's next customer message is answered from the edited article
    token, _ = await cluster.visitor(b)
    asked = await cluster.say(b, token, phrasing)
    reply = (await cluster.replies(b, token, asked["id"]))[0]
    assert reply["text"] == new_answer


async def test_serve_refuses_an_unmigrated_schema_and_user_add_does_not_migrate() -> None:
    async with pg_schema(migrate=False) as db_url:
        for args in (("serve", "--port", str(free_port())),
                     ("user", "add", "x@example.com", "--password-stdin")):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hub", *args, "--db", db_url,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=hub_env(),
            )
            out, err = await asyncio.wait_for(proc.communicate(f"{PASSWORD}\n".encode()), 30)
            assert proc.returncode == 2, (out + err).decode()
            assert "supporthub db migrate" in err.decode()
            assert len(err.decode().strip().splitlines()) == 1  # one clear line


# the relay itself, in-process: two apps on one schema ------------------------------------
@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def _listeners(store: PostgresStore) -> list[int]:
    async with store.connection() as conn:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE query = $1",
                                f'LISTEN "{store.target.events_channel}"')
    return [int(r["pid"]) for r in rows]


async def test_the_relay_reconnects_and_live_views_resync(start_hub: HubFactory) -> None:
    first, second = await start_hub(), await start_hub()
    store = first.hub.store
    assert isinstance(store, PostgresStore)
    agent = {"Authorization": f"Bearer {await second.add_user('cy@example.com')}"}
    console = await second.client.ws_connect("/api/v1/agent/ws", headers=agent)
    listeners = await _listeners(store)
    assert len(listeners) == 2
    async with store.connection() as conn:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                           listeners)
    # the console is closed so it reconnects and reloads from the store
    closed = await asyncio.wait_for(console.receive(), 5)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with asyncio.timeout(5):
        while len(await _listeners(store)) < 2:
            await asyncio.sleep(0.05)
    console = await second.client.ws_connect("/api/v1/agent/ws", headers=agent)
    visitor = await first.visitor()
    await visitor.say("hello from the first process")
    frame = await next_frame(console, timeout=2, type="message", message__author="customer")
    assert frame["message"]["text"] == "hello from the first process"
    await console.close()
