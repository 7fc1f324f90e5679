"""The hub's own cost per message, against a bare aiohttp handler, in one run.

Starts two servers as subprocesses on 127.0.0.1 — a bare aiohttp app whose POST handler
parses ~300 bytes of JSON and answers 200, and ``supporthub serve --demo`` on a temp SQLite
file — and sends each the same number of web-chat messages from this process with the same
concurrency. For the hub every request is the whole path: verify the visitor token, commit
the message (group commit, fsync) and acknowledge; the bot's answer (knowledge match, reply
and outbox row in one transaction) follows in the background, and the run waits until every
message is answered. Prints requests/s, latency p50/p99, and the ratio to the baseline.

    python bench/message_path.py [--messages 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

QUESTIONS = [
    "how long does shipping take?", "do you ship internationally", "what is your return policy",
    "how do I reset my password", "what payment methods do you take", "refund",
    "I want to talk to a human", "my parcel arrived broken", "do you sell gift cards",
    "how do I cancel my order", "can I change my order", "what's the weather on mars",
]

BARE_SERVER = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def handle(request):
        body = await request.json()
        return web.json_response({"ok": True, "n": len(body)})

    app = web.Application()
    app.router.add_post("/api/v1/webchat/messages", handle)
    app.router.add_get("/healthz", lambda r: web.json_response({}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not start")


async def load(base: str, tokens: list[str], messages: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(messages))

    async def worker(session: aiohttp.ClientSession, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        for n in counter:
            body = {"text": QUESTIONS[n % len(QUESTIONS)], "client_message_id": f"m{n}",
                    "padding": "x" * 200}
            started = time.perf_counter()
            async with session.post(f"{base}/api/v1/webchat/messages", json=body,
                                    headers=headers) as resp:
                await resp.read()
                if resp.status not in (200, 201):
                    raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session, tokens[i % len(tokens)])
                               for i in range(concurrency)))
    return latencies


def summary(name: str, latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    figures = {"rps": len(latencies) / seconds, "p50": statistics.median(ordered) * 1000,
               "p99": p99 * 1000}
    print(f"{name:<34} {figures['rps']:8.0f} req/s   p50 {figures['p50']:6.2f} ms   "
          f"p99 {figures['p99']:6.2f} ms")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-bench-"))
    bare_port, hub_port = free_port(), free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
    db = workdir / "bench.db"
    # every simulated visitor comes from 127.0.0.1: lift the per-address limit on new chats
    env = {**os.environ, "SUPPORTHUB_LOG_LEVEL": "WARNING", "SUPPORTHUB_WEBCHAT_SESSIONS_PER_MINUTE": "0"}
    hub = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--demo", "--port",
                            str(hub_port), "--db", f"sqlite:///{db}"], env=env,
                           stdout=subprocess.DEVNULL)
    try:
        bare_base, hub_base = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{hub_port}"
        await wait_ready(bare_base)
        await wait_ready(hub_base)
        tokens = []
        async with aiohttp.ClientSession() as session:
            for _ in range(args.concurrency):
                async with session.post(f"{hub_base}/api/v1/webchat/sessions", json={}) as r:
                    tokens.append((await r.json())["visitor_token"])

        print(f"{args.messages} messages, {args.concurrency} concurrent clients, "
              f"{os.cpu_count()} cores\n")
        started = time.perf_counter()
        baseline = summary("bare aiohttp handler", await load(
            bare_base, ["-"], args.messages, args.concurrency), time.perf_counter() - started)

        started = time.perf_counter()
        latencies = await load(hub_base, tokens, args.messages, args.concurrency)
        acked = time.perf_counter() - started
        full = summary("hub: verify + commit + ack", latencies, acked)
        for _ in range(600):
            with sqlite3.connect(db) as conn:
                pending = conn.execute("SELECT COUNT(*) FROM messages WHERE handled = 0")\
                    .fetchone()[0]
            if pending == 0:
                break
            await asyncio.sleep(0.05)
        answered = time.perf_counter() - started
        print(f"{'hub: every message answered':<34} {args.messages / answered:8.0f} msg/s "
              f"(match + reply + outbox, in {answered:.2f} s)")
        print(f"\nratio hub/bare: throughput {full['rps'] / baseline['rps']:.2f}, "
              f"p50 {full['p50'] / baseline['p50']:.2f}x, p99 {full['p99'] / baseline['p99']:.2f}x")
    finally:
        for proc in (bare, hub):
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
