"""A knowledge base that stays fast while it changes: three measurements in one run.

1. **Writes through the API**: ``supporthub serve`` (a subprocess, temp SQLite file) and an
   integration creating CLINC150's 150 intents as articles of 100 phrasings each, one by one
   through ``POST /api/v1/articles`` (15,000 phrasings at the end), while another client asks
   ``GET /api/v1/kb/match`` every 50 ms. Prints the total time, write latency, the probe's
   latency, and how long after the last write its article is matched (the index catching up).
2. **Loop lag during a rebuild** (in this process, the real store and ``KnowledgeBase``):
   a ticker measures how late the event loop wakes up while 15,000 phrasings are rebuilt and
   messages are matched every 2 ms — idle first (the machine's own noise), then with the
   rebuild in the worker process (what the hub does), then in a thread (what it did before).
   On a shared machine a late wake-up is often the OS running someone else, so each tick
   also records the CPU time this process used meanwhile (all its threads, not the worker
   process): a stall *this process caused* is ``min(lag, CPU used)`` — "own stall" below.
3. **Match latency** at 15,000 phrasings over CLINC150's test queries: wall time, and the
   CPU time of the thread (what the match costs, whatever else the machine runs).

    python bench/kb_writes.py [--rounds 3] [--skip-api]

The machine is shared: run it several times and compare figures of one run with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from message_path import free_port, wait_ready

from hub.model import NewArticle
from hub.store import make_store
from knowledge.builder import MatcherBuilder
from knowledge.evaluation import build_kb, load_splits
from knowledge.service import KnowledgeBase

DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/clinc150/data_full.json"
PASSWORD = "bench password 1234"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def ms(values: list[float]) -> str:
    return (f"p50 {statistics.median(values) * 1000:7.2f} ms  p99 {pct(values, 0.99) * 1000:7.2f}"
            f" ms  max {max(values) * 1000:7.2f} ms  (n={len(values)})")


# 1. writes through the API ---------------------------------------------------------------
async def api_writes(articles: list[NewArticle]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-kbw-"))
    db = f"sqlite:///{workdir / 'kb.db'}"
    env = {**os.environ, "SUPPORTHUB_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "hub", "user", "add", "root@example.com", "--role",
                    "admin", "--password-stdin", "--db", db], input=PASSWORD.encode(),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    hub = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", str(port),
                            "--db", db], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/auth/login", json={
                    "email": "root@example.com", "password": PASSWORD}) as resp:
                token = (await resp.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            probes: list[float] = []
            writing = True

            async def match(q: str) -> dict[str, object]:
                async with session.get(f"{base}/api/v1/kb/match", params={"q": q},
                                       headers=headers) as resp:
                    body: dict[str, object] = await resp.json()
                    return body

            async def prober() -> None:
                while writing:
                    t0 = time.perf_counter()
                    await match("how do I check my balance")
                    probes.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.05)

            probe_task = asyncio.create_task(prober())
            writes: list[float] = []
            started = time.perf_counter()
            for art in articles:
                body = {"title": art.title, "questions": list(art.questions),
                        "answer": art.answer}
                t0 = time.perf_counter()
                async with session.post(f"{base}/api/v1/articles", json=body,
                                        headers=headers) as resp:
                    assert resp.status == 201, await resp.text()
                writes.append(time.perf_counter() - t0)
            total = time.perf_counter() - started
            last = articles[-1]
            while True:  # the index catching up: the last article becomes the top match
                found = await match(last.questions[0])
                top = found["matches"][0]["title"] if found["matches"] else None  # type: ignore[index]
                if top == last.title:
                    break
                await asyncio.sleep(0.05)
            caught_up = time.perf_counter() - started - total
            writing = False
            await probe_task
        n_phr = sum(len(a.questions) for a in articles)
        print(f"1. {len(articles)} articles x {n_phr // len(articles)} phrasings created one by "
              f"one through POST /api/v1/articles: {total:.2f} s in total")
        print(f"   each write                {ms(writes)}")
        print(f"   kb/match every 50 ms      {ms(probes)}")
        print(f"   last article matched {caught_up:.2f} s after its write answered")
    finally:
        hub.terminate()
        hub.wait(timeout=30)


# 2. loop lag during a rebuild ---------------------------------------------------------------
async def lag_while(action: Callable[[], object] | None, queries: list[str],
                    kb: KnowledgeBase, seconds: float = 3.0
                    ) -> tuple[list[float], list[float], list[float], float]:
    """Loop lags and match latencies while ``action`` (a coroutine function) runs, or for
    ``seconds`` when it is None; and how long it ran."""
    lags: list[float] = []
    own: list[float] = []
    matches: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.sleep(0.001)
            lag = time.perf_counter() - t0 - 0.001
            lags.append(lag)
            own.append(max(0.0, min(lag, time.process_time() - c0 - 0.001)))

    async def asker() -> None:
        n = 0
        while not done.is_set():
            t0 = time.perf_counter()
            kb.match(queries[n % len(queries)])
            matches.append(time.perf_counter() - t0)
            n += 1
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(asker())]
    started = time.perf_counter()
    if action is None:
        await asyncio.sleep(seconds)
    else:
        await action()  # type: ignore[misc]
    took = time.perf_counter() - started
    done.set()
    await asyncio.gather(*tasks)
    return lags, own, matches, took


async def rebuild_lag(articles: list[NewArticle], queries: list[str]
                      ) -> dict[str, tuple[float, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-kbl-"))
    store = make_store(f"sqlite:///{workdir / 'kb.db'}")
    await store.open(migrate=True)
    await store.create_articles(articles)
    kb = KnowledgeBase(store)
    await kb.reload()  # the worker process starts here, once
    in_process = kb.builder
    out: dict[str, tuple[float, float]] = {}
    try:
        for name, builder in (("idle (no rebuild)", None),
                              ("rebuild in worker process", in_process),
                              ("rebuild in a thread", MatcherBuilder(process_from=10**9))):
            if builder is not None:
                kb.builder = builder
            lags, own, matches, took = await lag_while(kb.reload if builder else None,
                                                       queries, kb)
            print(f"   {name:<27} {took:5.2f} s   loop lag  {ms(lags)}")
            print(f"   {'':<27} {'':5}     own stall {ms(own)}")
            print(f"   {'':<27} {'':5}     match     {ms(matches)}")
            out[name] = (max(lags), max(own))
    finally:
        in_process.close()
        await kb.close()
        await store.close()
    return out


# 3. match latency ------------------------------------------------------------------------
async def match_latency(articles: list[NewArticle], queries: list[str]
                        ) -> tuple[float, float, float]:
    workdir = Path(tempfile.mkdtemp(prefix="supporthub-kbm-"))
    store = make_store(f"sqlite:///{workdir / 'kb.db'}")
    await store.open(migrate=True)
    await store.create_articles(articles)
    kb = KnowledgeBase(store)
    await kb.reload()
    try:
        times, cpu = [], []
        for q in queries:
            t0, c0 = time.perf_counter(), time.thread_time()
            kb.match(q)
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        print(f"3. match at {len(kb._matcher)} phrasings, {len(queries)} queries: wall {ms(times)}")
        print(f"   {'':>40} CPU  {ms(cpu)}")
        return statistics.median(times), pct(times, 0.99), pct(cpu, 0.99)
    finally:
        await kb.close()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of parts 2 and 3")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    data = load_splits(DATASET)
    articles = [NewArticle(a.title, a.questions, a.answer) for a in build_kb(data["train"], 100)]
    queries = [text for text, _ in data["test"]]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    if not args.skip_api:
        await api_writes(articles)
    print("2. loop lag while rebuilding 15,000 phrasings and matching a message every 2 ms")
    worst: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for name, value in (await rebuild_lag(articles, queries)).items():
            worst.setdefault(name, []).append(value)
    for name, values in worst.items():
        print(f"   median of {args.rounds} rounds, {name:<27} worst lag "
              f"{statistics.median(v[0] for v in values) * 1000:6.1f} ms, worst own stall "
              f"{statistics.median(v[1] for v in values) * 1000:6.1f} ms")
    p50s, p99s, cpu99s = [], [], []
    for _ in range(args.rounds):
        p50, p99, cpu99 = await match_latency(articles, queries)
        p50s.append(p50)
        p99s.append(p99)
        cpu99s.append(cpu99)
    print(f"   median of {args.rounds} rounds: p50 {statistics.median(p50s) * 1000:.2f} ms, "
          f"p99 {statistics.median(p99s) * 1000:.2f} ms (CPU p99 "
          f"{statistics.median(cpu99s) * 1000:.2f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
