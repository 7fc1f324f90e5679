"""Reaching customers first (test_outreach.py) again, on PostgreSQL: consent per sender,
notify refused and routed, the WhatsApp 24-hour window (messages aged in the PostgreSQL
schema by ``conftest.age_messages``) and templates, the 63016 path, campaigns throttled,
skipping with reasons and refreshing the console live."""

from __future__ import annotations

import inspect

import pytest
import test_outreach as _outreach

twilio = _outreach.twilio
telegram = _outreach.telegram
hub = _outreach.hub
globals().update({name: test for name, test in vars(_outreach).items()
                  if name.startswith("test_") and inspect.iscoroutinefunction(test)})


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url
