"""SQLite: the knowledge-administration tables and methods (see base_kb.py)."""

from __future__ import annotations

import sqlite_utils

from hub.store.sqlite_engine import SQLiteEngine


def migrate_v2(db: sqlite_utils.Database) -> None:
    """Schema version 2: knowledge administration."""


class SQLiteKnowledge:
    _engine: SQLiteEngine
