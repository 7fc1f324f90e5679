"""Local stand-ins for the platform APIs: aiohttp servers the real SDKs talk to (through the
``SUPPORTHUB_*_API_URL`` settings). Each records every call and answers a scripted failure
(429 with a retry delay, 5xx, a permanent error) on demand."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Call:
    method: str  # the API method: "sendMessage", "chat.postMessage", "Messages"
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when the platform took it


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering (an unresponsive platform)

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


PASSED = Failure(0, {})  # in a fail_next sequence: a call answered as usual


class FakePlatform:
    """Subclasses add their routes to ``self.app`` and call :meth:`record` in each handler."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.calls: list[Call] = []
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._changed = asyncio.Condition()
        self._server: TestServer | None = None

    async def start(self) -> str:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()
        return self.url("")

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> Self:  # ``async with FakeTelegram(token) as platform:``
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return str(self._server.make_url(path))

    def fail_next(self, method: str, *failures: Failure) -> None:
        """The next calls of ``method`` get these answers, in order."""
        self._failures[method].extend(failures)

    async def record(self, method: str, request: web.Request) -> tuple[Call, Failure | None]:
        params: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                params.update(json.loads(await request.text() or "{}"))
            else:
                params.update((await request.post()).items())
        call = Call(method, params, dict(request.headers))
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        queue = self._failures.get(method)
        failure = queue.popleft() if queue else None
        if failure is not None and failure.stall:
            await asyncio.sleep(failure.stall)
        if failure is not None and failure.status == 0:
            failure = None  # PASSED: this call is answered as usual
        return call, failure

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 8.0) -> list[Call]:
        """Wait (bounded) until ``method`` was called at least ``count`` times."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.calls_to(method)) >= count), timeout)
        return self.calls_to(method)
