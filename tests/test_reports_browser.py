"""The reports page in real headless Chromium: a customer rates the chat with the survey's
buttons and leaves a comment, then the admin's page shows the figures, charts drawn by the
vendored uPlot, the comment, and the per-article table one click from the article's editor
and from its own unanswered questions."""

from __future__ import annotations

from conftest import Running, call, log_in, new_page
from playwright.async_api import Browser, expect

from handoff import survey
from hub.model import Role


async def test_the_reports_page_shows_figures_and_charts(hub: Running, browser: Browser) -> None:
    await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    ann = await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []

    # answered by the bot, and that is all; two answers "didn't help" (two articles)
    other = await hub.visitor()
    for question in ("how long does shipping take?", "what payment methods do you take"):
        answer = await other.ask(question)
        resp = await hub.client.post("/api/v1/webchat/messages", headers=other.headers,
                                     json={"feedback": "unhelpful", "message_id": answer["id"]})
        assert resp.status == 201
        await hub.settle()

    customer = await new_page(browser, errors)
    await customer.goto(hub.url("/chat"))
    await expect(customer.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    await customer.get_by_test_id("chat-input").fill("I want to talk to a human")
    await customer.get_by_test_id("chat-send").click()
    queued = []
    while not queued:
        queued = (await call(hub, "GET", "/api/v1/conversations?state=queued", ann))[
            "conversations"]
    conversation_id = queued[0]["id"]
    for action, body, status in [("claim", None, 200), ("messages", {"text": "Hi, Ann."}, 201),
                                 ("resolve", None, 200)]:
        await call(hub, "POST", f"/api/v1/conversations/{conversation_id}/{action}", ann,
                   body, status)
    await customer.get_by_test_id("csat-5").click()  # the survey's buttons
    bot = customer.locator('[data-testid=message][data-author=bot] .msg-text')
    await expect(bot.last).to_have_text(survey.THANKS_TEXT)
    # the optional comment: the next message
    await customer.get_by_test_id("chat-input").fill("Ann was quick & kind <3")
    await customer.get_by_test_id("chat-send").click()
    await expect(bot.last).to_have_text(survey.THANKS_COMMENT_TEXT)

    admin = await new_page(browser, errors)
    await log_in(admin, hub, "root@example.com", "/admin")
    await expect(admin.get_by_test_id("me-name")).to_have_text("Root")
    await admin.goto(hub.url("/admin/reports"))
    await expect(admin.locator("body")).to_have_attribute("data-loaded", "true")
    await expect(admin.get_by_test_id("figure-conversations-value")).to_have_text("2")
    await expect(admin.get_by_test_id("figure-handoff-rate-value")).to_have_text("50.0%")
    await expect(admin.get_by_test_id("figure-containment-rate-value")).to_have_text("100.0%")
    await expect(admin.get_by_test_id("figure-csat-value")).to_have_text("5.00")
    for chart in ("chart-cycles", "chart-containment", "chart-first-response", "chart-csat"):
        box = admin.get_by_test_id(chart)
        await expect(box.locator("canvas")).to_have_count(1)  # uPlot drew it
        assert int(await box.get_attribute("data-points") or 0) >= 1, chart
    await expect(admin.get_by_test_id("agent-row")).to_contain_text("Ann")
    comment = admin.get_by_test_id("comment-row")
    await expect(comment).to_have_count(1)
    await expect(comment.get_by_test_id("comment-text")).to_have_text("Ann was quick & kind <3")
    await expect(comment).to_contain_text("5 / 5")
    await expect(admin.get_by_test_id("article-row")).to_have_count(2)
    row = admin.get_by_test_id("article-row").filter(has_text="How long does shipping take?")
    await row.get_by_test_id("article-edit").click()
    await expect(admin.get_by_test_id("article-title")).to_have_value(
        "How long does shipping take?")

    # each article's "unanswered questions" opens that article's own
    await admin.goto(hub.url("/admin/reports"))
    await expect(admin.locator("body")).to_have_attribute("data-loaded", "true")
    row = admin.get_by_test_id("article-row").filter(has_text="How long does shipping take?")
    await row.get_by_test_id("article-unanswered").click()
    groups = admin.get_by_test_id("unanswered-group")
    await expect(admin.get_by_test_id("unanswered-filter")).to_be_visible()
    await expect(admin.get_by_test_id("unanswered-filter")).to_contain_text(
        "How long does shipping take?")
    await expect(groups).to_have_count(1)
    await expect(groups).to_contain_text("how long does shipping take?")
    await admin.get_by_test_id("unanswered-all").click()  # and back to all of them
    await expect(admin.get_by_test_id("unanswered-filter")).to_be_hidden()
    await expect(groups).to_have_count(2)
    await admin.go_back()
    await expect(groups).to_have_count(1)
    assert errors == []


async def test_an_agent_is_refused_the_page(hub: Running, browser: Browser) -> None:
    await hub.add_user("ann@example.com")
    page = await new_page(browser, [])
    await log_in(page, hub, "ann@example.com", "/admin")
    await expect(page.get_by_test_id("admin-refused")).to_be_visible()
    response = await page.goto(hub.url("/admin/reports"))
    assert response is not None and response.status == 403
