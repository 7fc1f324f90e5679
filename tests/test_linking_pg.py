"""The continuity scenarios (test_linking.py) and the contacts API (test_contacts.py) again,
on PostgreSQL: every test of those modules, with ``db_url`` pointing at a fresh, migrated
PostgreSQL schema."""

from __future__ import annotations

import pytest
import test_contacts as _contacts
import test_linking as _linking

for _module in (_linking, _contacts):
    globals().update({name: value for name, value in vars(_module).items()
                      if name.startswith("test_") or name in ("hub", "telegram", "twilio", "slack")})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
