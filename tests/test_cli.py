"""The command line as an operator uses it: real subprocesses on a temp database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from fakes.net import free_port, wait_ready

from hub.store.base import SCHEMA_VERSION


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, cwd=cwd)


def test_user_add_then_duplicate_and_bad_input_are_one_line_errors(db_url: str) -> None:
    ok = run("user", "add", "Ann@Example.com", "--role", "agent", "--name", "Ann",
             "--password-stdin", "--db", db_url, stdin="s3cret-password\n")
    assert ok.returncode == 0, ok.stderr
    assert "created agent ann@example.com" in ok.stdout
    for args, stdin, words in [
        (("user", "add", "ann@example.com", "--password-stdin"), "another-password\n", "exists"),
        (("user", "add", "not-an-email", "--password-stdin"), "another-password\n", "email"),
        (("user", "add", "bo@example.com", "--password-stdin"), "short\n", "8 characters"),
        (("user", "add", "bo@example.com", "--role", "boss", "--password-stdin"), "x" * 9, "role"),
    ]:
        result = run(*args, "--db", db_url, stdin=stdin)
        assert result.returncode == 2, result
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_kb_import_json_and_csv_and_a_broken_file_changes_nothing(
    tmp_path: Path, db_url: str
) -> None:
    good = tmp_path / "kb.json"
    good.write_text(json.dumps([{"title": "Opening hours", "questions": ["When are you open?"],
                                 "answer": "9 to 5, Monday to Friday."}]))
    result = run("kb", "import", str(good), "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert "imported 1 articles" in result.stdout
    csv_file = tmp_path / "kb.csv"
    csv_file.write_text("title,questions,answer,tags\n"
                        "Parking,Where can I park?|Is there parking?,Behind the store.,stores\n")
    assert run("kb", "import", str(csv_file), "--db", db_url).returncode == 0
    broken = tmp_path / "broken.csv"
    broken.write_text("title,questions,answer\nA,q1,a1\nB,q2,\n")
    failed = run("kb", "import", str(broken), "--db", db_url)
    assert failed.returncode == 2
    assert "row 3" in failed.stderr and "answer" in failed.stderr
    assert "nothing was imported" in failed.stderr
    missing = run("kb", "import", str(tmp_path / "nope.json"), "--db", db_url)
    assert missing.returncode == 2 and "no such file" in missing.stderr

    import sqlite3

    db = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    titles = sorted(row[0] for row in db.execute("SELECT title FROM articles"))
    assert titles == ["Opening hours", "Parking"]


def test_db_migrate_and_an_unknown_database_url(db_url: str) -> None:
    result = run("db", "migrate", "--db", db_url)
    assert result.returncode == 0 and f"version {SCHEMA_VERSION}" in result.stdout
    bad = run("db", "migrate", "--db", "mysql://nope")
    assert bad.returncode == 2 and "unsupported database URL" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``supporthub serve --demo`` in a temp working directory (its default database)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SUPPORTHUB_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--demo", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, f"http://127.0.0.1:{port}", tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def test_serve_demo_answers_survives_kill_9_and_stops_cleanly(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, base, workdir = served
    await wait_ready(base)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/chat") as page:
            assert page.status == 200 and "<html" in (await page.text()).lower()
        async with session.post(f"{base}/api/v1/webchat/sessions", json={}) as resp:
            token = (await resp.json())["visitor_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{base}/api/v1/webchat/messages", headers=headers,
                                json={"text": "how long does shipping take?"}) as resp:
            assert resp.status == 201
        for _ in range(50):
            async with session.get(f"{base}/api/v1/webchat/messages", headers=headers) as resp:
                messages = (await resp.json())["messages"]
            if len(messages) == 2:
                break
            await asyncio.sleep(0.1)
        assert [m["author"] for m in messages] == ["customer", "bot"]

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert (workdir / "supporthub.db").exists()

    port = base.rsplit(":", 1)[1]
    again = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", port],
                             cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        await wait_ready(base)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/v1/webchat/messages", headers=headers) as resp:
                assert [m["text"] for m in (await resp.json())["messages"]] == [
                    m["text"] for m in messages]
        again.send_signal(signal.SIGINT)
        output, _ = again.communicate(timeout=20)
        assert again.returncode == 0, output
        assert "Traceback" not in output
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    banner = proc.stdout.read() if proc.stdout else ""
    assert "/chat" in banner and "supporthub user add" in banner and "/console" in banner
