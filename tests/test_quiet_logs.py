"""``supporthub serve`` logs at most one line per message at INFO: the SDKs' request chatter
(httpx, twilio's HTTP client, python-telegram-bot, slack_sdk) is off unless LOG_LEVEL=DEBUG."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from fakes import telegram as tg
from fakes import twilio as tw
from fakes.net import free_port, wait_ready
from fakes.telegram import FakeTelegram
from fakes.twilio import FakeTwilio

from bots.sdk_logging import SDK_LOGGERS

TOKEN = "123456:quiet-logs"
SECRET = "quiet-secret"
SID = "AC" + "0" * 32
AUTH = "quiet-auth"
PUBLIC = "https://support.example.com"
MESSAGES = 6  # per channel
LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): ")


async def _serve_and_talk(tmp_path: Path, log_level: str) -> list[tuple[str, str]]:
    """Run the hub with Telegram and SMS on, have customers ask, wait for every reply, stop
    it; the (level, logger) of every log line it wrote."""
    telegram, twilio = FakeTelegram(TOKEN), FakeTwilio(SID, AUTH)
    await telegram.start()
    await twilio.start()
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SUPPORTHUB_LOG_LEVEL": log_level,
           "SUPPORTHUB_TELEGRAM_TOKEN": TOKEN, "SUPPORTHUB_TELEGRAM_WEBHOOK_SECRET": SECRET,
           "SUPPORTHUB_TELEGRAM_API_URL": telegram.url(""),
           "SUPPORTHUB_TWILIO_ACCOUNT_SID": SID, "SUPPORTHUB_TWILIO_AUTH_TOKEN": AUTH,
           "SUPPORTHUB_TWILIO_FROM": "+15550009999", "SUPPORTHUB_TWILIO_API_URL": twilio.url(""),
           "SUPPORTHUB_PUBLIC_URL": PUBLIC}
    env.pop("SUPPORTHUB_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--demo", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        async with aiohttp.ClientSession() as http:
            for n in range(MESSAGES):
                update = tg.message_update("how long does shipping take?", user_id=500 + n)
                async with http.post(f"{base}/webhooks/telegram", data=json.dumps(update),
                                     headers={"Content-Type": "application/json",
                                              "X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                    assert r.status == 200
                fields = tw.incoming("how long does shipping take?", sender=f"+1555123{n:04d}")
                sig = tw.signature(AUTH, PUBLIC + "/webhooks/twilio/sms", fields)
                async with http.post(f"{base}/webhooks/twilio/sms", data=fields,
                                     headers={"X-Twilio-Signature": sig}) as r:
                    assert r.status == 200
        await telegram.wait_for("sendMessage", MESSAGES, timeout=30)
        await twilio.wait_for("Messages", MESSAGES, timeout=30)
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, None, 30)
        await telegram.close()
        await twilio.close()
    return [(m["level"], m["logger"]) for line in err.splitlines()
            if (m := LINE.match(line)) is not None]


def _sdk(logger: str) -> bool:
    return any(logger == name or logger.startswith(name + ".") for name in SDK_LOGGERS)


@pytest.mark.timeout(120)
async def test_info_logs_have_no_sdk_chatter_and_at_most_a_line_per_message(
    tmp_path: Path,
) -> None:
    lines = await _serve_and_talk(tmp_path, "INFO")
    assert not [line for line in lines if _sdk(line[1])]
    assert len(lines) <= 2 * MESSAGES  # startup lines included


@pytest.mark.timeout(120)
async def test_debug_brings_the_sdk_request_logs_back(tmp_path: Path) -> None:
    lines = await _serve_and_talk(tmp_path, "DEBUG")
    chatter = {logger for _level, logger in lines if _sdk(logger)}
    assert any(logger.startswith("twilio") for logger in chatter), chatter
    assert any(logger.startswith("telegram") for logger in chatter), chatter
