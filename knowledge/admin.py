"""The admin side of the knowledge base: the ``/admin`` page and its API (issue 6).

The page is static (``knowledge/static``); everything it shows comes from the admin API
(``articles_api``, ``kb_api``). An agent's session is refused the page with 403, like the
API; without a session the page shows its login form.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth import admin_page as admin_only_page
from hub.core import HUB
from knowledge import articles_api, kb_api

STATIC = Path(__file__).parent / "static"


async def admin_page(request: web.Request) -> web.StreamResponse:
    return await admin_only_page(request, request.app[HUB].store, STATIC / "admin.html")


def admin_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/admin", admin_page),
        web.static("/static/admin", STATIC),
        *articles_api.routes,
        *kb_api.routes,
    ]
