"""The platform SDKs' own logging, kept quiet unless asked for.

httpx logs every request at INFO ("HTTP Request: POST …"), twilio's HTTP client logs every
request and response at INFO, and slack_sdk, slack_bolt and python-telegram-bot log at
INFO/DEBUG too: ~9,000 lines in one burst of issue #16's benchmark. The hub's own logs say
what matters (a retry, a dead letter, a failed delivery), so these loggers stay at WARNING
unless ``SUPPORTHUB_LOG_LEVEL=DEBUG``, which brings all of it back.
"""

from __future__ import annotations

import logging

SDK_LOGGERS = ("httpx", "httpcore", "twilio", "twilio.http_client", "slack_sdk", "slack_bolt",
               "telegram", "telegram.ext", "hpack", "websockets", "aiohttp.client")


def quiet_sdk_loggers(log_level: str) -> None:
    """WARNING for the SDKs' loggers, unless the hub logs at DEBUG."""
    level = logging.DEBUG if log_level.upper() == "DEBUG" else logging.WARNING
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
