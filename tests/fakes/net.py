"""Loopback helpers for tests that run a hub in a subprocess: a free port, and waiting until
the hub answers ``/readyz``."""

from __future__ import annotations

import asyncio
import socket

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str, tries: int = 200) -> None:
    """Return once ``base``/readyz answers 200 (every 0.1 s, ``tries`` times at most)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
            try:
                async with session.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the hub did not become ready")
