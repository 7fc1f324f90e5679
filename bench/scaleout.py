"""What a second hub process buys: 1 and 2 processes on one PostgreSQL under the same load.

    python bench/scaleout.py [--rounds 3] [--seconds 5] [--chats 256] [--profile DIR]

Each round starts, on a fresh PostgreSQL schema (``--pg-url``, migrated first),
``supporthub serve --demo`` once as one process and once as two (each on its port, one
database, as behind a load balancer), with Telegram on and ``bench/platform_stub.py``
standing in for the Bot API. wrk (64 connections in all: one wrk of 64, or two of 32, one per
process, each taking half the chats) posts correctly signed, unique Telegram updates for
``--seconds``; the run then waits until every committed message is answered and its reply
delivered. Reported per setup: acknowledgements/s during the burst, and messages answered
end to end per second (committed messages / (burst + catch-up)); medians over the rounds,
the 1- and 2-process runs interleaved. Nothing is pinned: two processes need both cores
(which wrk and the stub share on a 2-core machine). ``--profile DIR`` records py-spy
(collapsed stacks, every thread) of the one-process hub from the burst's start until the
end of its catch-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from message_path import free_port, wait_ready
from webhooks import TG_SECRET, TG_TOKEN, WRK_SCRIPT, requests_for, run_wrk

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def pending(conn: asyncpg.Connection, schema: str) -> int:
    unhandled = await conn.fetchval(f'SELECT count(*) FROM "{schema}".messages WHERE NOT handled')
    unsent = await conn.fetchval(
        f"SELECT count(*) FROM \"{schema}\".outbox WHERE status = 'pending'")
    journaled = await conn.fetchval(f'SELECT count(*) FROM "{schema}".inbox')
    return int(unhandled) + int(unsent) + int(journaled)


async def one_setup(processes: int, tag: int, args: argparse.Namespace, workdir: Path,
                    here: Path) -> dict[str, float]:
    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    url = f"{args.pg_url}?schema={schema}&pool_size=10"
    stub_port = free_port()
    stub = f"http://127.0.0.1:{stub_port}"
    env = {**os.environ, "SUPPORTHUB_DATABASE_URL": url, "SUPPORTHUB_LOG_LEVEL": "WARNING",
           "SUPPORTHUB_TELEGRAM_TOKEN": TG_TOKEN,
           "SUPPORTHUB_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
           "SUPPORTHUB_TELEGRAM_API_URL": stub}
    subprocess.run([sys.executable, "-m", "hub", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, str(here / "platform_stub.py"),
                               str(stub_port)])]
    ports = [free_port() for _ in range(processes)]
    admin = await asyncpg.connect(args.pg_url)
    try:
        await wait_ready(stub)
        for port in ports:  # one after another: the first loads the demo articles
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--demo", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL))
            await wait_ready(f"http://127.0.0.1:{port}")
        await asyncio.sleep(1.0)  # every process has loaded the knowledge base
        lines = list(requests_for("telegram", tag, args.requests, args.chats, []))
        script = workdir / "requests.lua"
        script.write_text(WRK_SCRIPT)
        files = []
        for n in range(processes):  # each process its own chats (half the chats each)
            path = workdir / f"{tag}-{n}.txt"
            path.write_text("\n".join(line for i, line in enumerate(lines)
                                      if (i % args.chats) % processes == n) + "\n")
            files.append(path)
        spy = None
        if args.profile and processes == 1:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                ["py-spy", "record", "--threads", "-r", "100", "-p", str(procs[1].pid),
                 "--format", "raw", "-o", str(args.profile / f"scaleout-{tag}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.perf_counter()
        figures = await asyncio.gather(*(
            asyncio.to_thread(run_wrk, f"http://127.0.0.1:{port}", path, script,
                              args.seconds, False, 64 // processes)
            for port, path in zip(ports, files, strict=True)))
        while await pending(admin, schema) and time.perf_counter() - started < 300:
            await asyncio.sleep(0.1)
        total = time.perf_counter() - started
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            spy.wait(30)
        committed = int(await admin.fetchval(
            f"SELECT count(*) FROM \"{schema}\".messages WHERE direction = 'in'"))
        acks = sum(f["rps"] for f in figures)
        return {"acks": acks, "answered": committed / total,
                "p99": max(f["p99"] for f in figures), "catch_up": total - args.seconds}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--chats", type=int, default=256)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="record py-spy of the one-process hub during burst and catch-up")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-scaleout-"))
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"wrk 64 connections in all, {args.seconds} s bursts of Telegram updates")
    for round_no in range(args.rounds):
        for processes in (1, 2) if round_no % 2 == 0 else (2, 1):
            fig = await one_setup(processes, 50 + round_no * 2 + processes, args, workdir, here)
            results[processes].append(fig)
            print(f"round {round_no + 1}, {processes} process(es): {fig['acks']:.0f} acks/s "
                  f"(p99 {fig['p99']:.0f} ms), {fig['answered']:.0f} answered/s end to end, "
                  f"caught up {fig['catch_up']:.1f} s after the burst", flush=True)
    print("\nmedians:")
    for key, label in (("acks", "acknowledgements/s"), ("answered", "answered/s")):
        one = statistics.median(r[key] for r in results[1])
        two = statistics.median(r[key] for r in results[2])
        print(f"  {label:<20} 1 process {one:7.0f}  2 processes {two:7.0f}  "
              f"({two / one:.2f}x)")


if __name__ == "__main__":
    asyncio.run(main())
