"""Which channels are on: a channel is on when its credentials are set."""

from __future__ import annotations

from bots.base import Channel
from hub.config import Settings
from hub.store import Store


def configured_channels(settings: Settings, store: Store) -> list[Channel]:
    """The platform adapters whose credentials are configured (web chat is always on)."""
    channels: list[Channel] = []
    return channels
