"""The admin side of the knowledge base: the ``/admin`` page and its API (issue 6).

The page is static (``knowledge/static``); everything it shows comes from the admin API
(``articles_api``, ``kb_api``). An agent's session is refused the page with 403, like the
API; without a session the page shows its login form.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth import current_user
from hub.core import HUB
from hub.model import Role
from knowledge import articles_api, kb_api

STATIC = Path(__file__).parent / "static"

_REFUSED = (
    "<!doctype html><meta charset=utf-8><title>supporthub — admins only</title>"
    "<h1>Admins only</h1><p>You are logged in as an agent; the admin pages need an admin "
    "account. <a href=/console>Back to the console</a></p>"
)


async def admin_page(request: web.Request) -> web.StreamResponse:
    user = await current_user(request, request.app[HUB].store)
    if user is not None and user.role is not Role.ADMIN:
        return web.Response(status=403, text=_REFUSED, content_type="text/html")
    response = web.FileResponse(STATIC / "admin.html")
    response.headers["Cache-Control"] = "no-store"
    return response


def admin_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/admin", admin_page),
        web.static("/static/admin", STATIC),
        *articles_api.routes,
        *kb_api.routes,
    ]
