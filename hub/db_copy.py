"""``supporthub db copy``: move a hub's data from SQLite to PostgreSQL, keeping every id.

Ids are kept so that everything that points at a row from outside the database stays valid:
visitor tokens name web-chat identities, agents' links name conversations, platforms echo
message ids. Because of that the target must be empty (its ``meta`` aside, which the
source's values overwrite: the signing secret must travel, or every visitor token breaks),
and afterwards each identity sequence is moved past the largest copied id.

The whole copy is one PostgreSQL transaction (all or nothing) that holds the tables locked,
so a hub started on the target meanwhile waits rather than writes. Columns are matched by
name; values are converted to the target column's type (text timestamps to ``timestamptz``,
0/1 to ``boolean``). An outbox lease taken on SQLite names no PostgreSQL session, so it is
void on the target: pending replies go out from the first hub started there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from hub.store.base import SCHEMA_VERSION, StoreError
from hub.store.postgres import PostgresStore
from hub.store.postgres_schema import TABLES
from hub.store.rows import as_datetime

_CHUNK = 5000

Convert = Callable[[Any], Any]
_CONVERTERS: dict[str, Convert] = {
    "timestamp with time zone": as_datetime,
    "boolean": bool,
    "bigint": int,
    "integer": int,
    "double precision": float,
    "text": str,
    "bytea": bytes,  # email originals and attachments
}


class CopyRefused(StoreError):
    pass


def _open_sqlite(url: str) -> sqlite3.Connection:
    from hub.store import sqlite_path

    if not url.startswith("sqlite:///"):
        raise CopyRefused(f"--from must be a SQLite URL (sqlite:///path.db), not {url!r}")
    path = sqlite_path(url)
    if not path.is_file():
        raise CopyRefused(f"{path}: no such database file")
    conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        version = int(conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    except (sqlite3.Error, TypeError):
        version = 0
    if version != SCHEMA_VERSION:
        conn.close()
        raise CopyRefused(
            f"{path} has schema version {version}, this hub copies version {SCHEMA_VERSION}:"
            f" run `supporthub db migrate --db {url}` first"
        )
    return conn


def _rows(source: sqlite3.Connection, table: str, columns: list[str],
          converters: list[Convert]) -> Iterator[list[tuple[Any, ...]]]:
    cursor = source.execute(f'SELECT {", ".join(columns)} FROM "{table}"')
    while chunk := cursor.fetchmany(_CHUNK):
        yield [tuple(None if value is None else convert(value)
                     for value, convert in zip(row, converters, strict=True))
               for row in chunk]


async def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every row; return the number of rows copied per table."""
    if not target_url.startswith(("postgresql://", "postgres://")):
        raise CopyRefused(f"--to must be a PostgreSQL URL, not {target_url!r}")
    source = _open_sqlite(source_url)
    target = PostgresStore(target_url)
    try:
        await target.open(migrate=True)
        async with target.connection() as conn, conn.transaction():
            await conn.execute(
                f"LOCK TABLE {', '.join(TABLES)} IN SHARE ROW EXCLUSIVE MODE")
            busy = [t for t in TABLES if t != "meta"
                    and await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
            if busy:
                raise CopyRefused(
                    f"the target {target.target.display} is not empty (rows in"
                    f" {', '.join(busy)}); copy into a new database or schema")
            counts: dict[str, int] = {}
            for table in TABLES:
                counts[table] = await _copy_table(source, conn, table)
            identity_tables = {r["table_name"] for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND column_name = 'id' AND is_identity = 'YES'")}
            for table in TABLES:
                if table not in identity_tables:
                    continue  # keyed by name (meta, sessions, kb_settings): no sequence
                # a deleted article's id stays taken: its history is its own
                largest = ("GREATEST((SELECT max(id) FROM articles),"
                           " (SELECT max(article_id) FROM article_revisions))"
                           if table == "articles" else f"(SELECT max(id) FROM {table})")
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE({largest}, 0) + 1, false)")
            return counts
    finally:
        source.close()
        await target.close()


async def _copy_table(source: sqlite3.Connection, conn: Any, table: str) -> int:
    target_types = {
        r["column_name"]: r["data_type"] for r in await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1", table)
    }
    source_columns = [r["name"] for r in source.execute(f'PRAGMA table_info("{table}")')]
    columns = [c for c in source_columns if c in target_types]
    converters = [_CONVERTERS.get(target_types[c], str) for c in columns]
    copied = 0
    for chunk in _rows(source, table, columns, converters):
        if table == "meta":
            chunk = [row for row in chunk if row[columns.index("key")] != "schema_version"]
            await conn.executemany(
                f"INSERT INTO meta ({', '.join(columns)}) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", chunk)
        else:
            await conn.copy_records_to_table(table, records=chunk, columns=columns)
        copied += len(chunk)
    return copied
