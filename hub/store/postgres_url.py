"""Reading a ``postgresql://`` database URL into what asyncpg needs.

Two query parameters are the hub's own and are removed before the URL reaches asyncpg:

- ``schema=NAME``: every table lives in that schema (it becomes the connections'
  ``search_path``, and ``db migrate`` creates it). Tests give each run its own schema; an
  operator can keep several hubs in one database. Without it: the server's default
  ``search_path`` (normally ``public``).
- ``pool_size=N``: the most connections one hub process opens in its pool (default 10).

Every other parameter (``sslmode``, ``connect_timeout``, …) is passed to asyncpg as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DEFAULT_POOL_SIZE = 10


class BadDatabaseUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PgTarget:
    dsn: str  # for asyncpg: the URL without the hub's own parameters
    schema: str | None
    pool_size: int

    @property
    def server_settings(self) -> dict[str, str]:
        settings = {"application_name": "supporthub"}
        if self.schema:
            settings["search_path"] = f'"{self.schema}"'
        return settings

    @property
    def display(self) -> str:
        """The URL without a password, for messages and logs."""
        parts = urlsplit(self.dsn)
        host = parts.hostname or "localhost"
        where = f"{host}:{parts.port or 5432}{parts.path}"
        return where + (f" (schema {self.schema})" if self.schema else "")

    @property
    def events_channel(self) -> str:
        """The LISTEN/NOTIFY channel: one per schema, as notifications are database-wide."""
        return f"supporthub_events_{self.schema or 'default'}"


def parse_pg_url(url: str) -> PgTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadDatabaseUrl(f"not a PostgreSQL URL: {url!r}")
    schema: str | None = None
    pool_size = DEFAULT_POOL_SIZE
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            if not _IDENTIFIER.match(value):
                raise BadDatabaseUrl(
                    f"schema={value!r}: use letters, digits and _ (at most 63, not first digit)"
                )
            schema = value
        elif key == "pool_size":
            try:
                pool_size = int(value)
            except ValueError:
                pool_size = 0
            if pool_size < 1:
                raise BadDatabaseUrl(f"pool_size={value!r} must be a whole number ≥ 1")
        else:
            rest.append((key, value))
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return PgTarget(dsn, schema, pool_size)
