"""Contacts, continuity across channels, merges and agent administration (issue 7)."""

from __future__ import annotations

from aiohttp import web


def contacts_routes() -> list[web.AbstractRouteDef]:
    return []
