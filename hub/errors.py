"""JSON errors: every failure a client sees is ``{"error": {"code", "message"}}``, plus, for
some, fields that locate the problem (an import names its ``line``, ``file`` and ``field``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hub import openapi, validation
from hub.model import storable_text
from hub.store import Conflict, NotFound

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = dict(details or {})


def error_response(status: int, message: str, code: str | None = None,
                   details: Mapping[str, Any] | None = None) -> web.Response:
    error = {"code": code or _CODES.get(status, "error"), "message": message, **(details or {})}
    return web.json_response({"error": error}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.query_string:
            _one_value_each(request)
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.code, exc.details)
    except NotFound as exc:
        return error_response(404, str(exc))
    except Conflict as exc:
        return error_response(409, str(exc))
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "the request body is too large")
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_json(request):
            raise
        response = error_response(exc.status, exc.reason or "error")
        for name in _KEPT_HEADERS:  # a 405 must say what is allowed (RFC 9110 §15.5.6)
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; it has been logged")


def _one_value_each(request: web.Request) -> None:
    """No documented query parameter takes a list: one given twice is refused (422), not
    half-read. Parameters an operation does not document are ignored, repeated or not."""
    query = request.query
    if len(query) == len(set(query)):
        return
    resource = request.match_info.route.resource
    documented = _QUERY_PARAMETERS.get(
        (resource.canonical if resource is not None else "", request.method), ())
    for name in documented:
        if len(query.getall(name, ())) > 1:
            raise ApiError(422, f"query parameter {name!r} is given more than once")


# (route, method) -> the query parameters the document gives that operation
_QUERY_PARAMETERS: dict[tuple[str, str], tuple[str, ...]] = {
    (path, method.upper()): tuple(p["name"] for p in op.get("parameters", ())
                                  if p.get("in") == "query")
    for path, ops in openapi.DOCUMENT["paths"].items() for method, op in ops.items()
    if isinstance(op, dict)}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/webhooks/")) or request.path in {
        "/healthz", "/readyz"}


async def json_body(request: web.Request, schema: str | None = None) -> dict[str, Any]:
    """The request's JSON object, or a 400/413/422 explaining what is wrong with it.

    ``schema`` names the request schema of the OpenAPI document (hub/openapi.py) that the
    body must match (hub/validation.py) — the very schema the document publishes, so the
    two cannot disagree: a body it requires must be there (400 when it is missing), and
    anything it does not allow is a 422 naming the field. Handlers then check only what a
    schema cannot say.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "the request body is too large") from None
    if not raw:
        if schema is not None and validation.body_required(schema):
            raise ApiError(400, "a JSON body is required")
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    if schema is not None:
        problem = validation.body_problem(schema, body)
        if problem is not None:
            raise ApiError(422, problem)
    return body


def field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    """One field of a JSON body, type-checked; 422 names the field."""
    if name not in body or body[name] is None:
        if required:
            raise ApiError(422, f"field '{name}' is required")
        return None
    value = body[name]
    if kind is int and (isinstance(value, bool) or (isinstance(value, int)
                        and not openapi.INT64_MIN <= value <= openapi.INT64_MAX)):
        raise ApiError(422, f"field '{name}' must be a 64-bit integer")
    if not isinstance(value, kind):
        raise ApiError(422, f"field '{name}' must be {_kind_name(kind)}")
    if isinstance(value, str) and not storable_text(value):
        raise ApiError(422, f"field '{name}' contains a NUL character or a lone surrogate")
    return value


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", bool: "true or false",
            dict: "an object"}.get(kind, kind.__name__)


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the URL path; anything else is a 404 (no such resource)."""
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise ApiError(404, f"{name} must be a number") from None
    if not openapi.INT64_MIN <= value <= openapi.INT64_MAX:
        raise ApiError(404, f"no {name} {value}")
    return value
