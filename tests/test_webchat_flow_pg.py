"""The end-to-end web-chat scenario (test_webchat_flow.py) again, on PostgreSQL.

Every test of that module is collected here too, with ``db_url`` pointing at a fresh,
migrated PostgreSQL schema: FAQ answered, suggestions, fallback and handoff, the agent's
claim race, live replies, resolve, redelivery, restart with a pending outbox item, crash
recovery. A test added there runs on both engines without more work.
"""

from __future__ import annotations

import pytest
import test_webchat_flow as _flow

globals().update({name: test for name, test in vars(_flow).items() if name.startswith("test_")})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
