"""SQLite: the contacts and agent-administration tables and methods (see base_contacts.py)."""

from __future__ import annotations

import sqlite_utils

from hub.store.sqlite_engine import SQLiteEngine


def migrate_v3(db: sqlite_utils.Database) -> None:
    """Schema version 3: contacts across channels, link codes, merges, agents."""


class SQLiteContacts:
    _engine: SQLiteEngine
