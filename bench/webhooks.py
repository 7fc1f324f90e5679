"""Acknowledgement throughput and latency at saturation, per channel, against a bare handler.

One run starts, as subprocesses on 127.0.0.1: a bare aiohttp app whose POST handler parses
the body (JSON or form) and answers 200; ``supporthub serve --demo`` on a temp SQLite file
with Telegram, Slack and Twilio on, pointed at ``bench/platform_stub.py`` (a stand-in for the
three platform APIs that records every reply); and ``wrk`` (64 connections, one thread) as
the load generator. Servers are pinned to CPU 0, wrk and the stub to CPU 1 (``--no-pin`` to
not). Each round measures, for each target, the bare handler and then the hub, ``--seconds``
each, with requests generated beforehand: Telegram updates with the secret-token header,
Slack events signed with the signing secret, Twilio SMS webhooks signed as Twilio signs them,
web-chat messages with visitor tokens — every one unique, in ``--chats`` chats, each asking
questions the bot answers directly. Between the two, the same bare app with one durable row
per request (a group-commit writer thread, SQLite WAL, ``synchronous=FULL``) awaited before
the 200 ("bare+commit"): what acknowledging after a commit costs at the least, the ceiling
for the hub's ratio. After each burst the run waits (bounded) until every
committed message is answered and every reply delivered, and reports how long that took.

At the end it checks what the platforms received: for every chat, one reply per message the
hub committed, in the order the hub committed them (none lost, none doubled, in order), and
counts the hub's log lines at INFO. Then, unless ``--no-steady``, Telegram at a steady 300
messages/s for 10 s: the time from each update's POST to its reply reaching the platform.

    python bench/webhooks.py [--rounds 3] [--seconds 5] [--requests 30000] [--chats 256]
                             [--targets telegram slack sms webchat] [--profile DIR]

``--profile DIR`` records py-spy (collapsed stacks, every thread) of the hub during each burst.

Ratios of one round are comparable; absolute figures move with the shared machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from message_path import free_port, wait_ready

TG_TOKEN = "123456:bench-token"
TG_SECRET = "bench-secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TWILIO_SID = "AC" + "0" * 32
TWILIO_AUTH = "bench-auth-token"
OURS = "+15550009999"
PUBLIC = "https://support.example.com"
# demo questions the bot answers directly (checked at start)
QUESTIONS = ["how long does shipping take?", "do you ship internationally",
             "what is your return policy", "how do I reset my password",
             "what payment methods do you take", "do you sell gift cards",
             "how do I cancel my order"]
TARGETS = ("telegram", "slack", "sms", "webchat")
PATHS = {"telegram": "/webhooks/telegram", "slack": "/webhooks/slack/events",
         "sms": "/webhooks/twilio/sms", "webchat": "/api/v1/webchat/messages"}

BARE_SERVER = textwrap.dedent("""
    import asyncio, json, os, queue, sqlite3, sys, threading
    from aiohttp import web

    # with a database path in BENCH_COMMIT_DB: the same handler, plus one durable row per
    # request through a group-commit writer thread (WAL, synchronous=FULL), awaited before
    # the 200 -- what acknowledging after a commit costs at the least (the "ceiling")
    db = os.environ.get("BENCH_COMMIT_DB")
    jobs = queue.Queue()

    def writer():
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, body TEXT)")
        while True:
            batch = [jobs.get()]
            while not jobs.empty():
                batch.append(jobs.get_nowait())
            conn.execute("BEGIN IMMEDIATE")
            for _, _, body in batch:
                conn.execute("INSERT INTO inbox (body) VALUES (?)", (body,))
            conn.execute("COMMIT")
            for loop, future, _ in batch:
                loop.call_soon_threadsafe(future.set_result, None)

    async def handle(request):
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = await request.post()
        if db:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            jobs.put((loop, future, json.dumps(dict(body))))
            await future
        return web.json_response({"ok": True, "n": len(body)})

    if db:
        threading.Thread(target=writer, daemon=True).start()
    app = web.Application()
    for path in sys.argv[2:]:
        app.router.add_post(path, handle)
    app.router.add_get("/healthz", lambda r: web.json_response({}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")

WRK_SCRIPT = textwrap.dedent("""
    local reqs = {}
    local i = 0
    init = function(args)
      for line in io.lines(args[1]) do
        local path, headers, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
        local h = {}
        for k, v in headers:gmatch("([^|:]+):([^|]*)") do h[k] = v end
        reqs[#reqs + 1] = wrk.format("POST", path, h, body)
      end
    end
    request = function()
      i = i + 1
      if i > #reqs then i = 1 end
      return reqs[i]
    end
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests,
        summary.duration, latency:percentile(50), latency:percentile(99), e.status,
        e.connect + e.read + e.write + e.timeout))
    end
""")


# the requests --------------------------------------------------------------------------
def _line(path: str, headers: dict[str, str], body: str) -> str:
    return f"{path}\t{'|'.join(f'{k}:{v}' for k, v in headers.items())}\t{body}"


def _slack_headers(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:{body}".encode(),
                      hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}"}


def _twilio_signature(url: str, fields: dict[str, str]) -> str:
    payload = url + "".join(k + fields[k] for k in sorted(fields))
    return base64.b64encode(hmac.new(TWILIO_AUTH.encode(), payload.encode(),
                                     hashlib.sha1).digest()).decode()


def requests_for(target: str, tag: int, count: int, chats: int,
                 tokens: list[str]) -> Iterator[str]:
    """``count`` unique requests, chat after chat (message j of every chat, then j + 1)."""
    for n in range(count):
        chat, j = n % chats, n // chats
        text = QUESTIONS[j % len(QUESTIONS)]
        uid = f"{tag}{n:07d}"
        if target == "telegram":
            chat_id = tag * 1_000_000 + chat
            body = json.dumps({"update_id": int(uid), "message": {
                "message_id": n + 1, "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "U"}}},
                separators=(",", ":"))
            yield _line(PATHS[target], {"Content-Type": "application/json",
                                        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, body)
        elif target == "slack":
            user = f"U{tag}X{chat:05d}"
            ts = f"{int(time.time())}.{uid}"
            body = json.dumps({
                "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                "event_id": f"Ev{uid}", "event_time": int(time.time()),
                "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
                "event": {"type": "message", "channel": f"D{tag}X{chat:05d}", "user": user,
                          "text": text, "ts": ts, "event_ts": ts, "channel_type": "im"}},
                separators=(",", ":"))
            yield _line(PATHS[target], _slack_headers(body), body)
        elif target == "sms":
            fields = {"MessageSid": f"SM{uid}", "SmsSid": f"SM{uid}", "AccountSid": TWILIO_SID,
                      "From": f"+1555{tag}{chat:06d}", "To": OURS, "Body": text,
                      "NumMedia": "0", "ApiVersion": "2010-04-01"}
            yield _line(PATHS[target], {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": _twilio_signature(PUBLIC + PATHS[target], fields)},
                urlencode(fields))
        else:
            body = json.dumps({"text": text, "client_message_id": f"b{uid}"})
            yield _line(PATHS[target], {"Content-Type": "application/json",
                                        "Authorization": f"Bearer {tokens[chat]}"}, body)


# running wrk -------------------------------------------------------------------------------
def run_wrk(base: str, lines_file: Path, script: Path, seconds: int, pin: bool,
            connections: int = 64) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base,
           "--", str(lines_file)]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if match is None:
        raise RuntimeError(f"wrk said: {out}")
    n, duration, p50, p99, bad_status, socket_errors = map(int, match.groups())
    return {"requests": n, "rps": n / (duration / 1e6), "p50": p50 / 1000, "p99": p99 / 1000,
            "errors": bad_status + socket_errors}


def pending(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        unhandled = conn.execute("SELECT COUNT(*) FROM messages WHERE handled = 0").fetchone()[0]
        unsent = conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")\
            .fetchone()[0]
        journaled = conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
    return int(unhandled) + int(unsent) + int(journaled)


async def caught_up(db: Path, limit: float = 300.0) -> float:
    started = time.perf_counter()
    while pending(db) and time.perf_counter() - started < limit:
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


# checking what the platforms got ---------------------------------------------------------
def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


async def answers(http: aiohttp.ClientSession, hub: str, admin: dict[str, str]
                  ) -> dict[str, int]:
    """Each question's article (the bot must answer it directly)."""
    out = {}
    for q in QUESTIONS:
        async with http.get(f"{hub}/api/v1/kb/match", params={"q": q}, headers=admin) as r:
            body = await r.json()
        if body["outcome"] != "answer":
            raise RuntimeError(f"the demo knowledge base does not answer {q!r} directly")
        out[q] = body["matches"][0]["article_id"]
    return out


def check_delivery(db: Path, replies: list[list[object]], article_of: dict[str, int],
                   answer_words: dict[int, set[str]]) -> dict[str, dict[str, int]]:
    """Per channel: messages committed, replies delivered, chats whose replies are not
    exactly one per message in commit order."""
    def classify(text: str) -> int:
        words = _words(text)
        return max(answer_words, key=lambda a: len(words & answer_words[a]) /
                   max(1, len(words | answer_words[a])))

    with sqlite3.connect(db) as conn:
        recipient = dict(conn.execute(
            "SELECT DISTINCT conversation_id, recipient FROM outbox").fetchall())
        rows = conn.execute("SELECT conversation_id, channel, author, text, article_id "
                            "FROM messages ORDER BY id").fetchall()
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    stored_replies: dict[int, list[int]] = defaultdict(list)
    asked: dict[int, list[int]] = defaultdict(list)
    for conversation, channel, author, text, article in rows:
        if author == "customer" and text in article_of:
            asked[conversation].append(article_of[text])
            if channel != "webchat":
                expected[(channel, recipient.get(conversation, "?"))].append(article_of[text])
        elif author == "bot":
            stored_replies[conversation].append(article)
    got: dict[tuple[str, str], list[int]] = defaultdict(list)
    for channel, to, text, _at in replies:
        got[(str(channel), str(to))].append(classify(str(text)))
    out: dict[str, dict[str, int]] = {}
    for channel in ("telegram", "slack", "sms"):
        keys = {k for k in expected if k[0] == channel} | {k for k in got if k[0] == channel}
        out[channel] = {
            "committed": sum(len(expected[k]) for k in keys),
            "delivered": sum(len(got[k]) for k in keys),
            "chats_wrong": sum(expected[k] != got[k] for k in keys)}
    with sqlite3.connect(db) as conn:
        web_conversations = [c for (c,) in conn.execute(
            "SELECT DISTINCT conversation_id FROM messages WHERE channel = 'webchat'")]
    out["webchat"] = {
        "committed": sum(len(asked[c]) for c in web_conversations),
        "delivered": sum(len(stored_replies[c]) for c in web_conversations),
        "chats_wrong": sum(asked[c] != stored_replies[c] for c in web_conversations)}
    return out


# steady load ------------------------------------------------------------------------------
async def steady(http: aiohttp.ClientSession, hub: str, stub: str, rate: float,
                 seconds: float) -> list[float]:
    """Telegram updates at ``rate``/s, one new chat each; seconds from POST to reply."""
    sent: dict[str, float] = {}
    base = 9_000_000
    interval = 1.0 / rate
    started = time.perf_counter()
    tasks = []

    async def post(n: int) -> None:
        chat = base + n
        body = {"update_id": 800_000_000 + n, "message": {
            "message_id": n + 1, "date": int(time.time()), "text": QUESTIONS[0],
            "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False,
                                                              "first_name": "S"}}}
        sent[str(chat)] = time.time()
        async with http.post(f"{hub}{PATHS['telegram']}", json=body, headers={
                "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) as resp:
            await resp.read()

    for n in range(int(rate * seconds)):
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(n)))
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        async with http.get(f"{stub}/stats") as r:
            replies = (await r.json())["replies"]
        arrived = {to: at for ch, to, _t, at in replies if ch == "telegram" and to in sent}
        if len(arrived) == len(sent):
            break
        await asyncio.sleep(0.2)
    return [arrived[c] - sent[c] for c in sent if c in arrived]


# main -------------------------------------------------------------------------------------
async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30000,
                        help="unique requests generated per target and round")
    parser.add_argument("--chats", type=int, default=256)
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--no-steady", dest="steady", action="store_false")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="record py-spy (raw, collapsed stacks) of the hub during each burst")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    here = Path(__file__).resolve().parent
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-webhooks-"))
    db = workdir / "bench.db"
    script = workdir / "requests.lua"
    script.write_text(WRK_SCRIPT)
    bare_port, hub_port, stub_port = free_port(), free_port(), free_port()
    server_cpu = ["taskset", "-c", "0"] if pin else []
    load_cpu = ["taskset", "-c", "1"] if pin else []
    stub_base = f"http://127.0.0.1:{stub_port}"
    env = {**os.environ, "SUPPORTHUB_LOG_LEVEL": "INFO",
           "SUPPORTHUB_WEBCHAT_SESSIONS_PER_MINUTE": "0",
           "SUPPORTHUB_TELEGRAM_TOKEN": TG_TOKEN, "SUPPORTHUB_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
           "SUPPORTHUB_TELEGRAM_API_URL": stub_base,
           "SUPPORTHUB_SLACK_BOT_TOKEN": "xoxb-bench", "SUPPORTHUB_SLACK_SIGNING_SECRET":
           SLACK_SECRET, "SUPPORTHUB_SLACK_API_URL": f"{stub_base}/api/",
           "SUPPORTHUB_TWILIO_ACCOUNT_SID": TWILIO_SID, "SUPPORTHUB_TWILIO_AUTH_TOKEN":
           TWILIO_AUTH, "SUPPORTHUB_TWILIO_FROM": OURS, "SUPPORTHUB_TWILIO_API_URL": stub_base,
           "SUPPORTHUB_PUBLIC_URL": PUBLIC}
    log_path = workdir / "hub.log"
    ceiling_port = free_port()
    procs = [
        subprocess.Popen([*server_cpu, sys.executable, "-c", BARE_SERVER, str(bare_port),
                          *PATHS.values()]),
        subprocess.Popen([*server_cpu, sys.executable, "-c", BARE_SERVER, str(ceiling_port),
                          *PATHS.values()],
                         env={**os.environ, "BENCH_COMMIT_DB": str(workdir / "ceiling.db")}),
        subprocess.Popen([*load_cpu, sys.executable, str(here / "platform_stub.py"),
                          str(stub_port)]),
    ]
    subprocess.run([sys.executable, "-m", "hub", "user", "add", "root@example.com", "--role",
                    "admin", "--password-stdin", "--db", f"sqlite:///{db}"],
                   input=b"bench password 1234", env=env, check=True,
                   stdout=subprocess.DEVNULL)
    with open(log_path, "w") as log_file:
        procs.append(subprocess.Popen(
            [*server_cpu, sys.executable, "-m", "hub", "serve", "--demo", "--port",
             str(hub_port), "--db", f"sqlite:///{db}"], env=env, stdout=subprocess.DEVNULL,
            stderr=log_file))
    bare, hub = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{hub_port}"
    ceiling = f"http://127.0.0.1:{ceiling_port}"
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    try:
        await wait_ready(bare)
        await wait_ready(ceiling)
        await wait_ready(hub)
        await wait_ready(stub_base)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{hub}/api/v1/auth/login", json={
                    "email": "root@example.com", "password": "bench password 1234"}) as r:
                admin = {"Authorization": f"Bearer {(await r.json())['token']}"}
            article_of = await answers(http, hub, admin)
            answer_words = {}
            for article in set(article_of.values()):
                async with http.get(f"{hub}/api/v1/articles/{article}", headers=admin) as r:
                    answer_words[article] = _words((await r.json())["answer"])
            tokens = []
            for _ in range(args.chats):
                async with http.post(f"{hub}/api/v1/webchat/sessions", json={}) as r:
                    tokens.append((await r.json())["visitor_token"])
            log_lines_before = len(log_path.read_text().splitlines())
            print(f"{os.cpu_count()} cores (servers on CPU 0, wrk on CPU 1: {pin}), load "
                  f"average {os.getloadavg()[0]:.1f}; wrk -t1 -c64 -d{args.seconds:g}s, "
                  f"{args.rounds} rounds\n")
            messages = 0
            acknowledged: dict[str, int] = defaultdict(int)
            for round_no in range(args.rounds):
                for target in args.targets:
                    tag = 10 + round_no * len(TARGETS) + TARGETS.index(target)
                    lines_file = workdir / f"{target}-{round_no}.txt"
                    lines_file.write_text("\n".join(requests_for(
                        target, tag, args.requests, args.chats, tokens)) + "\n")
                    base_fig = run_wrk(bare, lines_file, script, args.seconds, pin)
                    ceiling_fig = run_wrk(ceiling, lines_file, script, args.seconds, pin)
                    spy = None
                    if args.profile:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        spy = subprocess.Popen(
                            ["py-spy", "record", "--threads", "-r", "200", "-p",
                             str(procs[-1].pid), "-d", str(args.seconds), "--format", "raw",
                             "-o", str(args.profile / f"{target}-{round_no}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    hub_fig = run_wrk(hub, lines_file, script, args.seconds, pin)
                    if spy is not None:
                        spy.wait()
                    lag = await caught_up(db)
                    messages += int(hub_fig["requests"])
                    acknowledged[target] += int(hub_fig["requests"] - hub_fig["errors"])
                    wrapped = " (requests ran out: some were repeats)" \
                        if hub_fig["requests"] > args.requests else ""
                    results[target].append({
                        "bare_rps": base_fig["rps"], "hub_rps": hub_fig["rps"],
                        "bare_p99": base_fig["p99"], "hub_p99": hub_fig["p99"],
                        "hub_p50": hub_fig["p50"], "errors": hub_fig["errors"],
                        "ceiling_rps": ceiling_fig["rps"], "ceiling_p99": ceiling_fig["p99"],
                        "catch_up": lag})
                    print(f"round {round_no + 1} {target:<8} bare {base_fig['rps']:7.0f} req/s "
                          f"p99 {base_fig['p99']:6.1f} ms | bare+commit "
                          f"{ceiling_fig['rps']:6.0f} req/s p99 {ceiling_fig['p99']:6.1f} ms | "
                          f"hub {hub_fig['rps']:6.0f} req/s "
                          f"p50 {hub_fig['p50']:6.1f} p99 {hub_fig['p99']:6.1f} ms, "
                          f"{hub_fig['errors']} errors | every reply out {lag:5.1f} s after "
                          f"the burst{wrapped}", flush=True)
            print("\nmedians over the rounds (ratio = hub / bare in the same round):")
            print(f"{'target':<9} {'bare req/s':>10} {'hub req/s':>10} {'ratio':>6} "
                  f"{'bare p99':>9} {'hub p99':>8} {'p99 x':>6} {'catch-up':>9} "
                  f"{'bare+commit ratio':>18}")
            for target, rounds in results.items():
                def med(key: str, rounds: list[dict[str, float]] = rounds) -> float:
                    return statistics.median(r[key] for r in rounds)
                ratio = statistics.median(r["hub_rps"] / r["bare_rps"] for r in rounds)
                times = statistics.median(r["hub_p99"] / r["bare_p99"] for r in rounds)
                ceiling_ratio = statistics.median(r["ceiling_rps"] / r["bare_rps"]
                                                  for r in rounds)
                print(f"{target:<9} {med('bare_rps'):10.0f} {med('hub_rps'):10.0f} "
                      f"{ratio:6.2f} {med('bare_p99'):7.1f}ms {med('hub_p99'):6.1f}ms "
                      f"{times:6.1f} {med('catch_up'):7.1f} s {ceiling_ratio:18.2f}")

            async with http.get(f"{stub_base}/stats") as r:
                replies = (await r.json())["replies"]
            print("\ndelivery (every committed message; platform records vs the store):")
            for channel, fig in check_delivery(db, replies, article_of, answer_words).items():
                verdict = "OK" if fig["committed"] == fig["delivered"] and \
                    not fig["chats_wrong"] else "MISMATCH"
                acked = acknowledged["sms" if channel == "sms" else channel]
                print(f"  {channel:<9} {acked:7d} acknowledged (repeats stored once), "
                      f"{fig['committed']:7d} committed, {fig['delivered']:7d} "
                      f"replies, {fig['chats_wrong']} chats not one reply per message in "
                      f"order: {verdict}")
            log_lines = len(log_path.read_text().splitlines()) - log_lines_before
            print(f"\nhub log lines at INFO during the bursts: {log_lines} for ~{messages} "
                  f"messages")
            if args.steady:
                latencies = await steady(http, hub, stub_base, 300.0, 10.0)
                ordered = sorted(latencies)
                p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
                print(f"steady 300 msg/s for 10 s (Telegram): {len(latencies)} replies, POST "
                      f"to reply p50 {statistics.median(ordered) * 1000:.0f} ms, p99 "
                      f"{p99 * 1000:.0f} ms")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
