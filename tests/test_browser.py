"""The customer page and the agent console side by side in real headless Chromium, against
the real hub: the question, the handoff, the claim, the reply travelling live both ways,
and customer text that stays text."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from conftest import HubFactory, Running, log_in, new_page
from playwright.async_api import Browser, expect

XSS = '<img src=x onerror="window.__xss=1">'


async def test_customer_and_agent_in_chromium(hub: Running, browser: Browser) -> None:
    await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []
    customer = await new_page(browser, errors)
    agent = await new_page(browser, errors)

    await customer.goto(hub.url("/chat"))
    await expect(customer.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    await customer.get_by_test_id("chat-input").fill("how long does shipping take?")
    await customer.get_by_test_id("chat-send").click()
    bot = customer.locator('[data-testid=message][data-author=bot] .msg-text')
    await expect(bot.first).to_contain_text("business days")

    # a wrong password is refused on the page
    await agent.goto(hub.url("/console"))
    await agent.get_by_test_id("login-email").fill("ann@example.com")
    await agent.get_by_test_id("login-password").fill("not the password")
    await agent.get_by_test_id("login-submit").click()
    await expect(agent.get_by_test_id("login-error")).not_to_be_empty()

    await log_in(agent, hub, "ann@example.com")
    queue = agent.get_by_test_id("queue-list").get_by_test_id("conversation-item")
    await expect(queue).to_have_count(0)

    # the customer writes markup and asks for a person: the queue updates live
    await customer.get_by_test_id("chat-input").fill(XSS)
    await customer.get_by_test_id("chat-send").click()
    await customer.get_by_test_id("ask-human").click()
    await expect(queue).to_have_count(1)

    await queue.first.click()
    thread = agent.get_by_test_id("thread-message")
    customer_lines = agent.locator('[data-testid=thread-message][data-author=customer] .msg-text')
    await expect(customer_lines.nth(1)).to_have_text(XSS)
    await agent.get_by_test_id("claim").click()
    await expect(agent.get_by_test_id("mine-list").get_by_test_id("conversation-item")) \
        .to_have_count(1)
    await agent.get_by_test_id("reply-input").fill("Hello, Ann here. Let me check that.")
    await agent.get_by_test_id("reply-send").click()

    # the reply travels to the customer's page live, with the agent's name
    agent_line = customer.locator('[data-testid=message][data-author=agent]')
    await expect(agent_line.locator(".msg-text")).to_have_text(
        "Hello, Ann here. Let me check that.")
    await expect(agent_line).to_contain_text("Ann")

    # and the customer's answer reaches the open thread live
    count = await thread.count()
    await customer.get_by_test_id("chat-input").fill("thank you!")
    await customer.get_by_test_id("chat-send").click()
    await expect(thread).to_have_count(count + 1)

    # a reload continues the same conversation
    await customer.reload()
    await expect(customer.locator('[data-testid=message][data-author=agent]')).to_have_count(1)

    assert await agent.evaluate("window.__xss") is None
    assert await customer.evaluate("window.__xss") is None
    await agent.get_by_test_id("resolve").click()
    await expect(agent.get_by_test_id("mine-list").get_by_test_id("conversation-item")) \
        .to_have_count(0)
    assert errors == []


async def test_widget_embeds_the_chat_in_another_site(
    start_hub: HubFactory, browser: Browser, unused_tcp_port_factory: Any
) -> None:
    hub = await start_hub()
    port = unused_tcp_port_factory()
    site = web.Application()
    page_html = (f'<!doctype html><title>Shop</title><h1>Acme</h1>'
                 f'<script src="{hub.url("/widget.js")}" async></script>')

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    site.router.add_get("/", index)
    runner = web.AppRunner(site)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        errors: list[str] = []
        page = await new_page(browser, errors)
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.get_by_test_id("supporthub-bubble").click()
        frame = page.frame_locator("#supporthub-frame")
        await expect(frame.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
        await frame.get_by_test_id("chat-input").fill("do you sell gift cards?")
        await frame.get_by_test_id("chat-send").click()
        await expect(frame.locator('[data-testid=message][data-author=bot]').first) \
            .to_contain_text("gift card")
        assert errors == []
    finally:
        await runner.cleanup()
