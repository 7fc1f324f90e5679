"""PostgreSQL: the knowledge-administration tables and methods (see base_kb.py)."""

from __future__ import annotations

V2 = """
SELECT 1;
"""


class PostgresKnowledge:
    pass
