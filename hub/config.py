"""Settings: every field is ``SUPPORTHUB_<NAME>`` in the environment and ``name`` in an
optional ``supporthub.toml``; the environment wins."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_type_hints


class ConfigError(ValueError):
    """A setting has a value the hub cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///supporthub.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    secret_key: str = ""  # signs visitor tokens; generated and stored when empty
    demo: bool = False
    log_level: str = "INFO"
    # knowledge matcher
    kb_answer_threshold: float | None = None
    kb_suggest_threshold: float | None = None
    # an import through the admin API (and a zip of Markdown files, unpacked): at most this
    max_import_bytes: int = 16 * 1024 * 1024
    # handoff: this many unanswerable questions in a row queue a handoff
    fallbacks_before_handoff: int = 2
    # outbox
    outbox_max_attempts: int = 8
    outbox_base_delay: float = 1.0
    outbox_max_delay: float = 300.0
    # agents: automatic round-robin assignment among online agents (off by default), at
    # most this many open conversations each; a queued conversation waiting this long with
    # no agent online is told so and offered to leave a message (0: never)
    auto_assign: bool = False
    max_open_per_agent: int = 5
    no_agent_wait_seconds: int = 120
    assignment_sweep_seconds: float = 5.0
    # web chat
    webchat_identity_secret: str = ""
    link_code_ttl: int = 900
    max_message_chars: int = 4000
    max_body_bytes: int = 256 * 1024
    session_ttl: int = 7 * 24 * 3600
    # live agent sockets re-check their session this often (expiry; ended sessions are
    # closed at once by an event)
    session_check_seconds: float = 1.0
    # new web-chat visitors one client address may start a minute (0: no limit)
    webchat_sessions_per_minute: int = 20
    # reverse proxies (comma-separated addresses) whose X-Forwarded-For names the client,
    # for the per-address limits on logins and new chat sessions
    trusted_proxies: str = ""
    cookie_secure: bool = False
    # reports: business hours (hub/business_hours.py; empty: calendar time only), their
    # time zone, and holidays (ISO dates, comma-separated); checked at start
    # (business_hours.configured)
    business_hours: str = ""
    timezone: str = "UTC"
    holidays: str = ""
    # the satisfaction survey after each resolution, answerable for this many seconds; the
    # customer's next message within csat_comment_window seconds of the rating is its comment
    csat: bool = True
    csat_window: int = 3 * 24 * 3600
    csat_comment_window: int = 15 * 60
    # /metrics: how often the shared figures (queue, outbox) are read from the store
    metrics_refresh_seconds: float = 5.0
    # channels (see bots/)
    telegram_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_mode: str = "webhook"
    telegram_api_url: str = "https://api.telegram.org"
    telegram_poll_timeout: int = 30  # polling mode: seconds each getUpdates long poll waits
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    sms_max_segments: int = 4  # a longer SMS answer is cut at a sentence to fit
    # answer STOP/START/HELP ourselves: only when Twilio's Advanced Opt-Out is off
    twilio_keyword_replies: bool = False
    # Messenger and Instagram (bots/meta.py): one Meta app's webhook, one token per channel
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    meta_api_url: str = "https://graph.facebook.com/v26.0"
    messenger_page_token: str = ""
    messenger_page: str = ""  # the Page's username, for "continue on Messenger" m.me links
    instagram_token: str = ""
    # after the 24-hour window, an agent's reply may go tagged HUMAN_AGENT for 7 days (needs
    # Meta's app review of the Human Agent permission); the bot's never
    meta_human_agent_tag: bool = False
    # email (bots/email.py): on when the address and SMTP_URL are set; mail comes in by IMAP
    # and/or the built-in SMTP receiver (EMAIL_LISTEN, "host:port")
    email_address: str = ""
    email_name: str = "Support"  # the display name of replies ("Ana (Support)" for agents)
    smtp_url: str = ""
    imap_url: str = ""
    email_listen: str = ""
    email_max_bytes: int = 25 * 1024 * 1024
    email_max_attachment_bytes: int = 10 * 1024 * 1024
    imap_poll_seconds: float = 60.0  # without IDLE: how often to look; with it: re-IDLE
    email_send_timeout: float = 60.0


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    text_kinds = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in {"1", "true", "yes", "on"}:
                return True
            if value in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind == float | None:
            return None if raw in (None, "") else float(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        expected = text_kinds.get(kind, "a number")
        raise ConfigError(
            f"setting SUPPORTHUB_{name.upper()} must be {expected}, not {raw!r}"
        ) from None


def load_settings(
    environ: Mapping[str, str] | None = None,
    toml_path: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Read ``supporthub.toml`` (if present), then the environment, then explicit overrides."""
    environ = os.environ if environ is None else environ
    path = toml_path or Path(environ.get("SUPPORTHUB_CONFIG", "supporthub.toml"))
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in raw:
            values[f.name] = _coerce(f.name, hints[f.name], raw[f.name])
        env_value = environ.get(f"SUPPORTHUB_{f.name.upper()}")
        if env_value is not None:
            values[f.name] = _coerce(f.name, hints[f.name], env_value)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, hints[key], value)
    return Settings(**values)


def with_secret(settings: Settings, stored_secret: str | None) -> Settings:
    """Fill in ``secret_key`` from the store (or a fresh one) when none is configured."""
    if settings.secret_key:
        return settings
    return replace(settings, secret_key=stored_secret or secrets.token_urlsafe(32))
