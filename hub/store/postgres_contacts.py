"""PostgreSQL: the contacts and agent-administration tables and methods
(see base_contacts.py)."""

from __future__ import annotations

V3 = """
SELECT 1;
"""


class PostgresContacts:
    pass
