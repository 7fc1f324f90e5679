"""The agent console's contact features and the web chat's continuity in real Chromium:
search, contact panel editing, private notes, canned responses, typing both ways,
continue-on-Telegram from the chat, and an admin deactivating an agent from /admin/agents."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from conftest import HubFactory, Running, log_in, new_page
from fakes.telegram import FakeTelegram
from playwright.async_api import APIResponse, Browser, Locator, Route, expect

from hub.model import Role

TOKEN = "123456:TEST-token"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as platform:
        yield platform


@pytest.fixture
async def hub(start_hub: HubFactory, telegram: FakeTelegram) -> Running:
    return await start_hub(telegram_token=TOKEN, telegram_webhook_secret="s3cret",
                           telegram_api_url=telegram.url(""))


async def test_console_contact_panel_notes_canned_and_typing(
    hub: Running, browser: Browser,
) -> None:
    admin = await hub.add_user("boss@example.com", Role.ADMIN, name="Boss")
    made = await hub.client.post("/api/v1/canned", json={
        "shortcut": "greet", "text": "Hello {{first_name}}, thanks!"},
        headers={"Authorization": f"Bearer {admin}"})
    assert made.status == 201, await made.text()
    await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []
    customer = await new_page(browser, errors)
    agent = await new_page(browser, errors)

    await customer.goto(hub.url("/chat"))
    await expect(customer.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    await customer.get_by_test_id("chat-input").fill("my purple teapot arrived broken")
    await customer.get_by_test_id("chat-send").click()
    await customer.get_by_test_id("ask-human").click()

    await log_in(agent, hub, "ann@example.com")
    await expect(agent.get_by_test_id("status-select")).to_have_value("online")
    await agent.get_by_test_id("search-input").fill("teapot")
    results = agent.get_by_test_id("results-list").get_by_test_id("conversation-item")
    await expect(results).to_have_count(1)
    await agent.get_by_test_id("filter-channel").select_option("sms")
    await expect(results).to_have_count(0)
    await agent.get_by_test_id("filter-channel").select_option("webchat")
    await expect(results).to_have_count(1)
    await results.first.click()

    panel = agent.get_by_test_id("contact-panel")
    await expect(panel.get_by_test_id("contact-channel")).to_have_count(1)
    await expect(panel.get_by_test_id("contact-channel")).to_have_attribute("data-channel",
                                                                            "webchat")
    await panel.get_by_test_id("contact-name").fill("Jane <b>Doe</b>")
    await panel.get_by_test_id("contact-attributes").fill("plan=pro")
    await panel.get_by_test_id("contact-save").click()
    await expect(panel.get_by_test_id("contact-saved")).to_have_text("Saved")
    await expect(agent.get_by_test_id("thread-contact")).to_have_text("Jane <b>Doe</b>")

    # a private note: in the agent's thread, never on the customer's page
    await agent.get_by_test_id("reply-private").check()
    await agent.get_by_test_id("reply-input").fill("Customer seems upset; offer a refund")
    await agent.get_by_test_id("reply-send").click()
    note = agent.locator('[data-testid=thread-message].private .msg-text')
    await expect(note).to_have_text("Customer seems upset; offer a refund")
    await agent.get_by_test_id("reply-private").uncheck()

    # typing both ways
    await customer.get_by_test_id("chat-input").press_sequentially("are you there", delay=250)
    await expect(agent.get_by_test_id("typing-indicator")).to_have_text("Customer is typing…")
    await agent.get_by_test_id("claim").click()
    await expect(agent.get_by_test_id("reply-input")).to_be_enabled()
    await agent.get_by_test_id("reply-input").press_sequentially("Hi there", delay=250)
    await expect(customer.get_by_test_id("agent-typing")).to_have_text("Ann is typing…")

    # a canned response with the contact's first name filled in
    await agent.get_by_test_id("reply-input").fill("")
    await agent.get_by_test_id("canned-select").select_option(label="greet")
    await expect(agent.get_by_test_id("reply-input")).to_have_value("Hello Jane, thanks!")
    await agent.get_by_test_id("reply-send").click()
    agent_line = customer.locator('[data-testid=message][data-author=agent] .msg-text')
    await expect(agent_line).to_have_text("Hello Jane, thanks!")
    assert "offer a refund" not in await customer.get_by_test_id("messages").inner_text()
    assert errors == []


async def test_continue_on_telegram_from_the_chat_page(hub: Running, browser: Browser,
                                                       ) -> None:
    errors: list[str] = []
    customer = await new_page(browser, errors)
    await customer.goto(hub.url("/chat"))
    await expect(customer.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    await customer.get_by_test_id("continue-elsewhere").click()
    options = customer.get_by_test_id("link-channel")
    await expect(options).to_have_count(1)  # only Telegram is on in this hub
    await options.first.click()
    await expect(customer.get_by_test_id("link-code")).to_have_text(
        re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    code = await customer.get_by_test_id("link-code").inner_text()
    assert len(code) == 9 and code[4] == "-"
    await expect(customer.get_by_test_id("link-url")).to_have_attribute(
        "href", f"https://t.me/acme_support_bot?start={code.replace('-', '')}")
    await expect(customer.get_by_test_id("link-instructions")).to_contain_text(code)
    assert errors == []


async def test_admin_deactivates_an_agent_and_their_console_ends(
    hub: Running, browser: Browser,
) -> None:
    await hub.add_user("boss@example.com", Role.ADMIN, name="Boss")
    await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []
    admin = await new_page(browser, errors)
    agent = await new_page(browser, errors)
    await log_in(agent, hub, "ann@example.com")
    await expect(agent.get_by_test_id("me-name")).to_have_text("Ann")
    await log_in(admin, hub, "boss@example.com")
    await expect(admin.get_by_test_id("me-name")).to_have_text("Boss")
    await admin.goto(hub.url("/admin/agents"))
    ann = admin.locator('[data-testid=agent-row][data-email="ann@example.com"]')
    await ann.get_by_test_id("agent-toggle").click()
    await expect(ann.get_by_test_id("agent-active")).to_have_text("deactivated")
    # her live socket is closed with the session: the console asks her to sign in at once,
    # without her doing anything
    await expect(agent.get_by_test_id("login-error")).to_contain_text("session has ended",
                                                                     timeout=3000)
    # the admin invites someone new; the generated password is shown once
    await admin.get_by_test_id("invite-email").fill("cat@example.com")
    await admin.get_by_test_id("invite-submit").click()
    await expect(admin.get_by_test_id("agents-notice")).to_contain_text("password:")
    await expect(admin.get_by_test_id("agent-row")).to_have_count(3)
    assert errors == []


async def test_unread_badges_come_from_the_server_and_survive_a_reload(
    hub: Running, browser: Browser,
) -> None:
    await hub.add_user("ann@example.com", name="Ann")
    first, second = await hub.visitor(), await hub.visitor()
    await first.say("I need a human")
    await first.say("hello?")
    await second.say("I need a human")
    await hub.settle()
    a, b = first.conversation_id, second.conversation_id
    errors: list[str] = []
    agent = await new_page(browser, errors)

    def badge(conversation_id: int) -> Locator:
        return agent.locator(f'[data-testid=conversation-item]'
                             f'[data-conversation-id="{conversation_id}"]'
                             ).get_by_test_id("unread")

    await log_in(agent, hub, "ann@example.com")
    await expect(badge(a)).to_have_text("2")
    await expect(badge(b)).to_have_text("1")
    async with agent.expect_response(lambda r: r.url.endswith(f"/conversations/{a}/read")
                                     and r.status == 200):
        await agent.locator(f'[data-testid=conversation-item][data-conversation-id="{a}"]'
                            ).click()
    await expect(badge(a)).to_have_count(0)
    # a customer message elsewhere counts up live
    await second.say("anyone?")
    await expect(badge(b)).to_have_text("2")
    # after a reload the counts come back from the server, per agent
    await agent.reload()
    await expect(badge(b)).to_have_text("2")
    await expect(badge(a)).to_have_count(0)
    assert errors == []


async def test_a_conversation_queued_while_the_lists_load_stays_in_the_queue(
    hub: Running, browser: Browser,
) -> None:
    """The lists' requests read the store before a customer asks for a person, their
    answers arrive after the live event: the stale lists must not drop the new item."""
    await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []
    agent = await new_page(browser, errors)
    await log_in(agent, hub, "ann@example.com")
    await expect(agent.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    queue = agent.get_by_test_id("queue-list").get_by_test_id("conversation-item")
    await expect(queue).to_have_count(0)

    read: list[Route] = []
    held: list[tuple[Route, APIResponse]] = []
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        response = await route.fetch()  # the lists as they are now: nothing queued
        read.append(route)
        held.append((route, response))
        await release.wait()
        await route.fulfill(response=response)

    await agent.route(re.compile(r".*/api/v1/conversations\?state=.*"), hold)
    await agent.reload()  # loads the lists (held) and opens the live socket
    await expect(agent.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    for _ in range(200):
        if len(read) >= 3:
            break
        await asyncio.sleep(0.05)
    assert len(read) >= 3
    visitor = await hub.visitor()
    await visitor.say("I need a human")
    await hub.settle()
    await expect(queue).to_have_count(1)  # the live event
    release.set()
    await asyncio.sleep(1.0)  # the stale lists arrive
    await expect(queue).to_have_count(1)
    assert errors == []
