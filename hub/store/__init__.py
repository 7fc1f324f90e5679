"""The conversation store: one interface, an engine per database URL."""

from __future__ import annotations

from pathlib import Path

from hub.store.base import Conflict, NotFound, SchemaMismatch, Store, StoreError, Turn

__all__ = ["Conflict", "NotFound", "SchemaMismatch", "Store", "StoreError", "Turn", "make_store"]


class UnsupportedDatabase(ValueError):
    pass


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` → relative.db; ``sqlite:////abs/path.db`` → /abs/path.db."""
    rest = url.removeprefix("sqlite:///")
    if not rest:
        raise UnsupportedDatabase(f"database URL {url!r} names no file")
    return Path(rest)


def make_store(url: str) -> Store:
    """The store for a database URL (not yet opened)."""
    if url.startswith("sqlite:///"):
        from hub.store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from hub.store.postgres import PostgresStore

        return PostgresStore(url)
    raise UnsupportedDatabase(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://user@host/db"
    )
