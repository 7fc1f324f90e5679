"""The HTTP client the Twilio SDK sends through: its own ``AsyncTwilioHttpClient``, wrapped.

Two things the SDK does not offer: a different REST root (``SUPPORTHUB_TWILIO_API_URL``, for
a regional edge, a proxy, or the tests' stand-in; the SDK's ``edge``/``region`` only rename
``*.twilio.com`` hosts), and the headers of a failed response (``TwilioRestException``
drops ``Retry-After``). This wrapper implements the SDK's ``AsyncHttpClient`` interface,
rewrites each URL's scheme and host, and files every response where the caller asked for it.
It is an implementation of the SDK's transport interface, not a subclass of an SDK client.
"""

from __future__ import annotations

import base64
import contextvars
import logging
from urllib.parse import urlsplit, urlunsplit

from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"

# a list the current task set up to receive the responses of its calls (see send())
responses: contextvars.ContextVar[list[Response] | None] = contextvars.ContextVar(
    "twilio_responses", default=None)


class RedirectingHttpClient(AsyncHttpClient):
    def __init__(self, api_url: str, timeout: float = 15.0) -> None:
        super().__init__(log, is_async=True, timeout=timeout)
        root = urlsplit(api_url.rstrip("/") or DEFAULT_API_URL)
        self._scheme, self._netloc, self._prefix = root.scheme, root.netloc, root.path
        self._inner = AsyncTwilioHttpClient(timeout=timeout)

    def rewrite(self, uri: str) -> str:
        parts = urlsplit(uri)
        if not parts.netloc.endswith("twilio.com"):
            return uri
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query,
                           parts.fragment))

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:  # as a header: aiohttp deprecates the SDK's BasicAuth object
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        response = await self._inner.request(
            method, self.rewrite(uri), params=params, data=data, headers=headers, auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects)
        sink = responses.get()
        if sink is not None:
            sink.append(response)
        return response

    async def close(self) -> None:
        await self._inner.close()
