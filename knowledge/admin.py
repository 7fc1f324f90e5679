"""The admin side of the knowledge base: the ``/admin`` pages and their API (issue 6)."""

from __future__ import annotations

from aiohttp import web


def admin_routes() -> list[web.AbstractRouteDef]:
    return []
