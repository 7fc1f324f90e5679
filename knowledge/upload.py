"""An import upload (``POST /api/v1/kb/import``) read into validated articles.

The upload is either the raw request body, its format named by ``?format=`` or by its
Content-Type, or ``multipart/form-data`` whose file parts are each named by their extension
(``?format=`` overrides). Accepted: one ``.json`` or ``.csv`` file, one ``.zip`` holding
``.md`` files (in folders or not; other files are ignored, as the CLI ignores them in a
folder), or any number of ``.md`` files. The body, and a zip's ``.md`` files unpacked, may
be at most ``limit`` bytes. Parsing and validation are the CLI's (``knowledge/importer.py``),
in either mode (``ids``: update mode reads each row's ``id``).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hub.errors import ApiError
from knowledge.importer import ArticleImportError, ImportRow, load_markdown, load_text

FORMATS = ("json", "csv", "zip", "md")
_CONTENT_TYPES = {
    "application/json": "json", "text/json": "json", "text/csv": "csv",
    "application/csv": "csv", "application/zip": "zip", "application/x-zip-compressed": "zip",
    "text/markdown": "md", "text/x-markdown": "md",
}
_CHUNK = 64 * 1024
_EXPECTED = "upload one .json or .csv file, one .zip of .md files, or .md files"


class UploadTooLarge(Exception):
    """The upload, or what a zip unpacks to, is over the limit (HTTP 413)."""


@dataclass(frozen=True, slots=True)
class Upload:
    name: str | None  # the file name (None: a raw body)
    kind: str  # one of FORMATS
    data: bytes


async def _read(read: Callable[[int], Awaitable[bytes]], limit: int) -> bytes:
    data = bytearray()
    while chunk := await read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise UploadTooLarge(f"the upload is larger than {limit} bytes")
    return bytes(data)


def _kind(fmt: str | None, name: str | None, content_type: str | None) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()[1:] if name else ""
    if fmt:
        return fmt
    if suffix in FORMATS:
        return suffix
    return _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())


async def read_upload(request: web.Request, limit: int) -> list[Upload]:
    """The uploaded files; 413 over ``limit``, 415 when a file's format is unknown."""
    fmt = request.query.get("format") or None
    if fmt is not None and fmt not in FORMATS:
        raise ApiError(422, f"format must be one of {', '.join(FORMATS)}")
    if request.content_length is not None and request.content_length > limit:
        raise UploadTooLarge(f"the upload is larger than {limit} bytes")
    if request.content_type != "multipart/form-data":
        kind = _kind(fmt, None, request.content_type)
        if kind is None:
            raise ApiError(415, f"say what the upload is: ?format={'|'.join(FORMATS)}, its"
                                " Content-Type, or multipart/form-data with file names")
        return [Upload(None, kind, await _read(request.content.read, limit))]
    return await _read_parts(request, fmt, limit)


async def _read_parts(request: web.Request, fmt: str | None, limit: int) -> list[Upload]:
    uploads: list[Upload] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.filename is None:
                continue  # a form field, not a file
            kind = _kind(fmt, part.filename, part.headers.get("Content-Type"))
            if kind is None:
                raise ApiError(415, f"{part.filename}: not a file to import; {_EXPECTED}")
            left = limit - sum(len(u.data) for u in uploads)
            uploads.append(Upload(part.filename, kind, await _read(part.read_chunk, left)))
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # aiohttp: malformed
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise ApiError(400, f"the multipart body is malformed ({reason.strip()})") from None
    if not uploads:
        raise ApiError(400, f"the form has no file; {_EXPECTED}")
    return uploads


def _decode(name: str | None, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArticleImportError(f"{name}: not UTF-8 text" if name else "not UTF-8 text",
                                 file=name) from None


def _is_markdown(info: zipfile.ZipInfo) -> bool:
    path = PurePosixPath(info.filename)
    hidden = any(p.startswith(".") or p == "__MACOSX" for p in path.parts)
    return not info.is_dir() and path.suffix.lower() == ".md" and not hidden


def _unzip(data: bytes, limit: int) -> list[tuple[str, str]]:
    """The ``.md`` files in a zip, by path, decoded."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = sorted((i for i in archive.infolist() if _is_markdown(i)),
                             key=lambda i: i.filename)
            if sum(i.file_size for i in members) > limit:
                raise UploadTooLarge(f"the archive unpacks to more than {limit} bytes")
            files = [(i.filename, archive.read(i)) for i in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            EOFError, OSError, zlib.error) as exc:
        raise ArticleImportError(f"not a readable zip archive ({exc})") from None
    if not files:
        raise ArticleImportError("the archive holds no .md files")
    return [(name, _decode(name, raw)) for name, raw in files]


def _rows(uploads: Sequence[Upload], limit: int, ids: bool) -> list[ImportRow]:
    kinds = [u.kind for u in uploads]
    first = uploads[0]
    if kinds in (["json"], ["csv"]):
        return load_text(_decode(first.name, first.data), first.kind, ids=ids)
    if kinds == ["zip"]:
        files = _unzip(first.data, limit)
        return load_markdown(files, len(files), ids=ids)
    if all(kind == "md" for kind in kinds):
        files = sorted((u.name or "upload.md", _decode(u.name, u.data)) for u in uploads)
        return load_markdown(files, len(files), ids=ids)
    raise ArticleImportError(_EXPECTED)


def rows_from(uploads: Sequence[Upload], limit: int, *, ids: bool = False) -> list[ImportRow]:
    """Every article in the upload, validated, or the first problem as an
    ``ArticleImportError`` whose message starts with the uploaded file's name (as do the
    rows' own errors, for problems found when they are written)."""
    name = uploads[0].name if len(uploads) == 1 else None
    try:
        rows = _rows(uploads, limit, ids)
    except ArticleImportError as exc:
        if name is None or exc.file == name:
            raise
        raise exc.at(file=name, prefix=f"{name}: ") from None
    if name is None:
        return rows
    return [row if row.file == name else
            replace(row, where=f"{name}: {row.where}", file=row.file or name) for row in rows]
