"""Reaching customers first (test_outreach.py) again, on PostgreSQL: every scenario that
does not age messages in the SQLite file — consent per sender, notify refused and routed,
templates, the 63016 path, campaigns throttled and skipping with reasons."""

from __future__ import annotations

import inspect

import pytest
import test_outreach as _outreach

twilio = _outreach.twilio
telegram = _outreach.telegram
hub = _outreach.hub
globals().update({name: test for name, test in vars(_outreach).items()
                  if name.startswith("test_") and inspect.iscoroutinefunction(test)
                  and "db_path" not in inspect.signature(test).parameters})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
