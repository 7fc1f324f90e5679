"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

PTB lets a bot take any ``telegram.request.BaseRequest``. Its default one (httpx over anyio
and httpcore) was ~38% of the hub's CPU under a webhook burst (issue #16's profile), and it
logs every request at INFO. This one sends through an aiohttp ``ClientSession`` — the client
the hub already runs on — with a connection pool sized for the outbox's concurrent sends.
The Bot API is called exactly as PTB's own transport does: form-encoded parameters (values
already JSON-encoded by PTB), multipart when a file is attached; timeouts and network errors
become PTB's ``TimedOut`` and ``NetworkError``, so the channel's error handling is unchanged.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

CONNECTIONS = 64


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one aiohttp session (opened by ``initialize``, closed by
    ``shutdown``; PTB's ``Bot`` calls both)."""

    def __init__(
        self,
        connections: int = CONNECTIONS,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files
                       else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write timeout: the upload is bounded by the whole request's budget
        total = None if read is None or write is None else read + write + (connect or 0) \
            + (pool or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read,
                                        connect=None if connect is None or pool is None
                                        else connect + pool)
        try:
            async with self._session.request(method, url, data=_body(request_data),
                                             timeout=timeout) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters form-encoded, or as multipart with the files attached."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return fields
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, *mime = part
        form.add_field(name, content, filename=filename,
                       content_type=mime[0] if mime else "application/octet-stream")
    return form

