"""The email scenarios (test_email.py, test_email_answers.py) again, on PostgreSQL: every test
of those modules is collected here with ``db_url`` pointing at a fresh, migrated schema."""

from __future__ import annotations

import pytest
import test_email as _email
import test_email_answers as _answers

globals().update({name: test for module in (_email, _answers)
                  for name, test in vars(module).items() if name.startswith("test_")})
hub = _answers.hub


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
