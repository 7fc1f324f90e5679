"""Which channels are on: a channel is on when its credentials are set.

Each platform module is imported only when its channel is on, so a hub without Slack never
loads slack-bolt.
"""

from __future__ import annotations

import logging

from bots.base import Channel
from hub.config import Settings
from hub.store import Store

log = logging.getLogger(__name__)


def configured_channels(settings: Settings, store: Store) -> list[Channel]:
    """The platform adapters whose credentials are configured (web chat is always on)."""
    channels: list[Channel] = []
    if settings.telegram_token:
        from bots.telegram import TelegramChannel

        channels.append(TelegramChannel(settings, store))
    if settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token):
        from bots.slack import SlackChannel

        channels.append(SlackChannel(settings, store))
    elif settings.slack_bot_token:
        log.warning("slack: SUPPORTHUB_SLACK_BOT_TOKEN is set but neither "
                    "SUPPORTHUB_SLACK_SIGNING_SECRET nor SUPPORTHUB_SLACK_APP_TOKEN: Slack is off")
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        from bots.twilio_sms import twilio_channels

        channels.extend(twilio_channels(settings, store))
    elif settings.twilio_account_sid or settings.twilio_auth_token:
        log.warning("twilio: SMS and WhatsApp need SUPPORTHUB_TWILIO_ACCOUNT_SID, "
                    "SUPPORTHUB_TWILIO_AUTH_TOKEN and SUPPORTHUB_TWILIO_FROM: they are off")
    if settings.meta_app_secret and (settings.messenger_page_token or settings.instagram_token):
        from bots.meta import meta_channels

        channels.extend(meta_channels(settings, store))
    elif settings.messenger_page_token or settings.instagram_token:
        log.warning("meta: Messenger and Instagram need SUPPORTHUB_META_APP_SECRET (to verify "
                    "webhooks) and a token: they are off")
    if settings.email_address and settings.smtp_url:
        from bots.email import EmailChannel

        channels.append(EmailChannel(settings, store))
    elif settings.email_address or settings.imap_url or settings.email_listen:
        log.warning("email: SUPPORTHUB_EMAIL_ADDRESS and SUPPORTHUB_SMTP_URL are both needed "
                    "to answer mail: email is off")
    return channels
