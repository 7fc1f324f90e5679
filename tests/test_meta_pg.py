"""The Messenger and Instagram scenarios (test_meta.py) again, on PostgreSQL, with
``db_url`` pointing at a fresh, migrated schema: batches, redelivery, quick replies, Graph
errors, m.me links, and the 24-hour / 7-day windows for the bot and agents (messages aged in
the PostgreSQL schema by ``conftest.age_messages``)."""

from __future__ import annotations

import inspect

import pytest
import test_meta as _meta

fake = _meta.fake
hub = _meta.hub
globals().update({name: test for name, test in vars(_meta).items()
                  if name.startswith("test_") and inspect.iscoroutinefunction(test)})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
