"""A SQLite-only deployment never loads PostgreSQL's driver: ``supporthub serve`` on a SQLite
file, answering a web-chat visitor, ends without ``asyncpg`` (or any ``hub.store.postgres*``
module) ever imported. PostgreSQL's cross-process relay is a capability of its store
(``Store.notifications()``), not an import of the app."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from fakes.net import free_port, wait_ready

# ``supporthub serve`` as the console script runs it, then a report of the modules loaded
_SERVE_THEN_REPORT = """
import json, sys
from hub.cli import main
code = main(sys.argv[2:])
loaded = sorted(m for m in sys.modules
                if m.split(".")[0] == "asyncpg" or m.startswith("hub.store.postgres"))
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "loaded": loaded, "app": "hub.app" in sys.modules}, out)
"""


async def test_a_sqlite_hub_serves_without_importing_asyncpg(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    report = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SUPPORTHUB_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE_THEN_REPORT, str(report), "serve", "--demo",
         "--db", f"sqlite:///{tmp_path / 'hub.db'}", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        await wait_ready(base)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/webchat/sessions", json={}) as resp:
                token = (await resp.json())["visitor_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{base}/api/v1/webchat/messages", headers=headers,
                                    json={"text": "how long does shipping take?"}) as resp:
                assert resp.status == 201
            for _ in range(50):  # the bot answered: routing, matcher and outbox all ran
                async with session.get(f"{base}/api/v1/webchat/messages",
                                       headers=headers) as resp:
                    messages = (await resp.json())["messages"]
                if len(messages) == 2:
                    break
                await asyncio.sleep(0.1)
            assert [m["author"] for m in messages] == ["customer", "bot"]
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    result = json.loads(report.read_text())
    assert result["code"] == 0 and result["app"], output
    assert result["loaded"] == [], f"a SQLite hub imported {result['loaded']}"
