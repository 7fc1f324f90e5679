"""Article writes answer once committed, and the matcher catches up in the background:
any number of writes coalesce into one rebuild in flight plus one pending, a write is matched
once it has taken effect, nothing is stale after a burst, and a large knowledge base is built
in a worker process that the hub ends when it stops."""

from __future__ import annotations

import asyncio
import multiprocessing.connection
from collections.abc import Mapping, Sequence
from typing import Any

from conftest import Running, admin_headers

from hub.model import Article
from knowledge.builder import MatcherBuilder
from knowledge.matcher import Matcher, Thresholds


class GatedBuilder(MatcherBuilder):
    """The real builder, but each build waits for ``gate``: a rebuild held "in flight"."""

    def __init__(self, process_from: int = 10**9) -> None:
        super().__init__(process_from)
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = 0
        self.entered = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def build(self, articles: Sequence[Article], thresholds: Thresholds,
                    synonyms: Mapping[str, list[str]]) -> Matcher:
        self.started += 1
        self.entered.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            return await super().build(articles, thresholds, synonyms)
        finally:
            self.in_flight -= 1


def _article(n: int) -> dict[str, Any]:
    animal = ["alpaca", "axolotl", "capybara", "chinchilla", "gecko", "hedgehog", "iguana",
              "lemur", "meerkat", "ocelot", "pangolin", "quokka", "tapir", "wombat",
              "narwhal", "okapi", "platypus", "tarsier", "vicuna", "zebu"][n]
    return {"title": f"{animal.title()} food", "answer": f"{animal} pellets",
            "questions": [f"what does a {animal} eat", f"how do I feed my {animal}"]}


async def _match(hub: Running, admin: dict[str, str], q: str) -> dict[str, Any]:
    resp = await hub.client.get("/api/v1/kb/match", params={"q": q}, headers=admin)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _status(hub: Running, admin: dict[str, str]) -> dict[str, Any]:
    resp = await hub.client.get("/api/v1/kb/status", headers=admin)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_concurrent_writes_coalesce_into_one_rebuild_in_flight_and_one_pending(
    hub: Running,
) -> None:
    admin = await admin_headers(hub)
    builder = hub.hub.knowledge.builder = GatedBuilder()
    builder.gate.clear()
    first = await hub.client.post("/api/v1/articles", json=_article(0), headers=admin)
    assert first.status == 201  # answered while its rebuild is held in flight
    await asyncio.wait_for(builder.entered.wait(), 10)
    assert builder.started == 1 and hub.hub.knowledge.pending

    posts = [hub.client.post("/api/v1/articles", json=_article(n), headers=admin)
             for n in range(1, 20)]
    assert all(r.status == 201 for r in await asyncio.gather(*posts))
    assert builder.started == 1  # the nineteen others wait as one pending rebuild
    builder.gate.set()
    await hub.hub.knowledge.settled()
    assert builder.started == 2 and builder.most_in_flight == 1
    for n in range(20):
        match = await _match(hub, admin, _article(n)["questions"][0])
        assert match["outcome"] == "answer"
        assert match["matches"][0]["title"] == _article(n)["title"]


async def test_a_write_is_matched_once_it_has_taken_effect(hub: Running) -> None:
    admin = await admin_headers(hub)
    builder = hub.hub.knowledge.builder = GatedBuilder()
    visitor = await hub.visitor()
    builder.gate.clear()
    created = await hub.client.post("/api/v1/articles", json=_article(3), headers=admin)
    assert created.status == 201
    stored = await hub.client.get(f"/api/v1/articles/{(await created.json())['id']}",
                                  headers=admin)
    assert stored.status == 200  # committed: the API has it at once
    before = await _match(hub, admin, "what does a chinchilla eat")
    assert all(m["title"] != "Chinchilla food" for m in before["matches"])  # not live yet
    held = await _status(hub, admin)
    assert held["pending"] is True  # what the admin page shows as "going live"

    builder.gate.set()
    await hub.settle()
    live = await _status(hub, admin)
    assert live["pending"] is False
    assert (live["articles"], live["phrasings"]) == (held["articles"] + 1,
                                                     held["phrasings"] + 2)
    reply = await visitor.ask("what does a chinchilla eat")
    assert reply["text"] == "chinchilla pellets"


async def test_nothing_is_stale_after_a_burst_of_creates_edits_and_deletes(
    hub: Running,
) -> None:
    admin = await admin_headers(hub)
    hub.hub.knowledge.builder = GatedBuilder()  # the real build, never held
    created = await asyncio.gather(*[
        hub.client.post("/api/v1/articles", json=_article(n), headers=admin)
        for n in range(12)])
    ids = [(await r.json())["id"] for r in created]
    changes = [hub.client.delete(f"/api/v1/articles/{ids[n]}", headers=admin)
               for n in range(0, 4)]
    changes += [hub.client.patch(f"/api/v1/articles/{ids[n]}", headers=admin,
                                 json={"answer": f"new food {n}"}) for n in range(4, 8)]
    changes += [hub.client.patch(f"/api/v1/articles/{ids[n]}", headers=admin,
                                 json={"status": "draft"}) for n in range(8, 10)]
    assert all(r.status == 200 for r in await asyncio.gather(*changes))
    await hub.settle()

    visitor = await hub.visitor()
    for n in range(12):
        question = _article(n)["questions"][0]
        match = await _match(hub, admin, question)
        titles = [m["title"] for m in match["matches"]]
        if n < 4 or n in (8, 9):  # deleted, or a draft: never matched
            assert _article(n)["title"] not in titles, question
        else:
            assert match["outcome"] == "answer" and titles[0] == _article(n)["title"]
    assert (await visitor.ask("how do I feed my lemur"))["text"] == "new food 7"
    assert (await (await hub.visitor()).ask("what does a quokka eat"))["text"] == "quokka pellets"


class FailingOnce(MatcherBuilder):
    """The real builder, but the first build fails (the store went away, say)."""

    def __init__(self) -> None:
        super().__init__(10**9)
        self.failures = 0

    async def build(self, articles: Sequence[Article], thresholds: Thresholds,
                    synonyms: Mapping[str, list[str]]) -> Matcher:
        if not self.failures:
            self.failures += 1
            raise RuntimeError("the store went away")
        return await super().build(articles, thresholds, synonyms)


async def test_a_failed_rebuild_is_retried_until_the_write_is_matched(hub: Running) -> None:
    admin = await admin_headers(hub)
    knowledge = hub.hub.knowledge
    knowledge.builder = FailingOnce()
    created = await hub.client.post("/api/v1/articles", json=_article(7), headers=admin)
    assert created.status == 201  # committed, whatever the index does
    async with asyncio.timeout(30):
        while knowledge.pending:  # retried after a second, then it catches up
            await asyncio.sleep(0.05)
    assert knowledge.builder.failures == 1
    match = await _match(hub, admin, "how do I feed my lemur")
    assert match["outcome"] == "answer" and match["matches"][0]["title"] == "Lemur food"


async def test_a_large_knowledge_base_is_built_in_a_worker_process(hub: Running) -> None:
    admin = await admin_headers(hub)
    knowledge = hub.hub.knowledge
    knowledge.builder = MatcherBuilder(process_from=0)  # every build goes to the worker
    created = await hub.client.post("/api/v1/articles", json=_article(5), headers=admin)
    assert created.status == 201
    await knowledge.settled()
    pool = knowledge.builder._pool
    assert pool is not None
    [worker] = list(pool._processes.values())
    assert worker.is_alive()
    match = await _match(hub, admin, "how do I feed my hedgehog")
    assert match["outcome"] == "answer" and match["matches"][0]["title"] == "Hedgehog food"

    await knowledge.close()  # the hub's shutdown: the worker process ends
    # its sentinel is ready once it has exited (whoever reaps it: the executor's own thread
    # races any join here, and the loser's is_alive() can stay True)
    ended = await asyncio.to_thread(multiprocessing.connection.wait, [worker.sentinel], 30)
    assert ended == [worker.sentinel]
