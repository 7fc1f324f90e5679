"""The console in real Chromium shows what a channel allows now: a free reply and until when,
or — after WhatsApp's 24 hours — the registered templates instead of the text box; and the
contact panel shows who asked us to stop writing where."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from conftest import HubFactory, Running, age_messages, call, log_in, new_page
from fakes.twilio import FakeTwilio
from playwright.async_api import Browser, expect
from test_outreach import AUTH, HX, OURS, PHONE, PUBLIC, SID, sms

from hub.model import Role


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(SID, AUTH) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, twilio: FakeTwilio) -> Running:
    return await start_hub(twilio_account_sid=SID, twilio_auth_token=AUTH, twilio_from=OURS,
                           twilio_api_url=twilio.url(""), public_url=PUBLIC)


async def test_the_console_offers_templates_after_the_whatsapp_window(
    hub: Running, twilio: FakeTwilio, browser: Browser,
) -> None:
    admin = await hub.add_user("root@example.com", Role.ADMIN)
    await call(hub, "POST", "/api/v1/templates", admin,
               {"name": "order_update", "content_sid": HX, "variables": ["1", "2"]},
               status=201)
    await hub.add_user("ann@example.com", name="Ann")
    await sms(hub, "I need a human", sender=f"whatsapp:{PHONE}")
    await sms(hub, "STOP", sender="+15557770000")  # another customer, opted out by SMS
    await twilio.wait_for("Messages")
    errors: list[str] = []
    agent = await new_page(browser, errors)
    await log_in(agent, hub, "ann@example.com")
    await agent.get_by_test_id("queue-list").get_by_test_id("conversation-item").first.click()
    await agent.get_by_test_id("claim").click()
    window = agent.get_by_test_id("reply-window")
    await expect(window).to_contain_text("Free reply possible until")
    await expect(agent.get_by_test_id("template-form")).to_be_hidden()

    await age_messages(hub, 25)
    await agent.reload()
    await agent.get_by_test_id("mine-list").get_by_test_id("conversation-item").first.click()
    await expect(window).to_have_text("24-hour window closed: send a template")
    await expect(agent.get_by_test_id("reply-input")).to_be_hidden()
    form = agent.get_by_test_id("template-form")
    await expect(form).to_be_visible()
    await form.get_by_test_id("template-select").select_option("order_update")
    await form.get_by_test_id("template-variables").fill("1=Jane, 2=4711")
    sent = len(twilio.calls_to("Messages"))
    await form.get_by_test_id("template-send").click()
    calls = await twilio.wait_for("Messages", sent + 1)
    assert calls[-1].params["ContentSid"] == HX and "Body" not in calls[-1].params
    assert json.loads(calls[-1].params["ContentVariables"]) == {"1": "Jane", "2": "4711"}
    await expect(agent.locator('[data-testid=thread-message] .msg-text').last).to_contain_text(
        "order_update")

    # the opted-out customer's contact panel says so
    stopped = await hub.hub.store.find_conversation("sms", "+15557770000")
    assert stopped is not None
    await agent.locator(f'[data-testid=conversation-item][data-conversation-id="{stopped.id}"]'
                        ).first.click()
    consent = agent.get_by_test_id("contact-panel").get_by_test_id("contact-consent")
    await expect(consent).to_have_text(
        "No messages on sms (+15557770000): opted out (replied STOP)")
    assert errors == []
