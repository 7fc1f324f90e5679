"""The admin page in real headless Chromium: create an article, then ask the chat that
question and get it; an agent is refused; article text stays text; a write says "live"
only once the bot answers with it."""

from __future__ import annotations

from pathlib import Path

from conftest import Running, log_in, new_page
from playwright.async_api import Browser, expect
from test_browser import XSS
from test_kb_rebuild import GatedBuilder

from hub.model import Role


async def test_create_an_article_in_admin_then_the_chat_answers_with_it(
    hub: Running, browser: Browser
) -> None:
    await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    errors: list[str] = []
    admin = await new_page(browser, errors)
    await log_in(admin, hub, "root@example.com", "/admin")
    await expect(admin.get_by_test_id("me-name")).to_have_text("Root")

    await admin.get_by_test_id("new-article").click()
    await admin.get_by_test_id("article-title").fill("Parrot care " + XSS)
    await admin.get_by_test_id("article-questions").fill(
        "What do parrots eat?\nHow do I feed my parrot?")
    await admin.get_by_test_id("article-answer").fill("Seeds, fruit and greens.")
    await admin.get_by_test_id("article-save").click()
    await expect(admin.get_by_test_id("editor-status")).to_have_text(
        "Saved — live on the next message.")
    item = admin.get_by_test_id("article-list").get_by_test_id("article-item").filter(
        has_text="Parrot care")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text(XSS)  # markup in a title is shown as text

    # "try it" shows the decision and the scores
    await admin.get_by_test_id("try-input").fill("what should my parrot eat")
    await admin.get_by_test_id("try-submit").click()
    await expect(admin.get_by_test_id("try-outcome")).to_have_text("answer")
    await expect(admin.get_by_test_id("try-match").first).to_contain_text("Parrot care")

    customer = await new_page(browser, errors)
    await customer.goto(hub.url("/chat"))
    await expect(customer.get_by_test_id("conn-status")).to_have_attribute("data-state", "open")
    await customer.get_by_test_id("chat-input").fill("what do parrots eat")
    await customer.get_by_test_id("chat-send").click()
    bot = customer.locator('[data-testid=message][data-author=bot] .msg-text')
    await expect(bot.last).to_have_text("Seeds, fruit and greens.")

    # edit it: the history lists both versions, and the next answer is the new text
    await item.click()
    await admin.get_by_test_id("article-answer").fill("Pellets, fruit and greens.")
    await admin.get_by_test_id("article-save").click()
    await expect(admin.get_by_test_id("history-item")).to_have_count(2)
    await expect(admin.get_by_test_id("editor-status")).to_have_text(
        "Saved — live on the next message.")
    await customer.get_by_test_id("chat-input").fill("how do I feed my parrot")
    await customer.get_by_test_id("chat-send").click()
    await expect(bot.last).to_have_text("Pellets, fruit and greens.")
    await admin.get_by_test_id("history-restore").first.click()
    await expect(admin.get_by_test_id("article-answer")).to_have_value("Seeds, fruit and greens.")

    assert await admin.evaluate("window.__xss") is None
    assert errors == []


async def test_an_agent_is_refused_the_admin_page(hub: Running, browser: Browser) -> None:
    await hub.add_user("ann@example.com")
    errors: list[str] = []
    page = await new_page(browser, errors)
    await log_in(page, hub, "ann@example.com", "/admin")
    await expect(page.get_by_test_id("admin-refused")).to_be_visible()
    response = await page.goto(hub.url("/admin"))  # with the agent's session cookie
    assert response is not None and response.status == 403
    assert errors == []


async def test_unanswered_question_becomes_an_article(hub: Running, browser: Browser) -> None:
    await hub.add_user("root@example.com", Role.ADMIN)
    visitor = await hub.visitor()
    await visitor.ask("can you juggle flaming torches")
    errors: list[str] = []
    admin = await new_page(browser, errors)
    await log_in(admin, hub, "root@example.com", "/admin")
    await admin.get_by_test_id("tab-unanswered").click()
    group = admin.get_by_test_id("unanswered-group")
    await expect(group).to_have_count(1)
    await group.get_by_test_id("create-from").click()
    await expect(admin.get_by_test_id("article-questions")).to_have_value(
        "can you juggle flaming torches")
    await admin.get_by_test_id("article-answer").fill("Only on Fridays.")
    await admin.get_by_test_id("article-save").click()
    await expect(admin.get_by_test_id("editor-status")).to_have_text(
        "Saved — live on the next message.")
    await admin.get_by_test_id("tab-unanswered").click()
    await expect(group).to_have_count(0)
    reply = await (await hub.visitor()).ask("can you juggle flaming torches?",
                                            knowledge_settled=False)  # the page said "live"
    assert reply["text"] == "Only on Fridays."
    assert errors == []


async def test_import_a_file_on_the_admin_page(hub: Running, browser: Browser,
                                               tmp_path: Path) -> None:
    """A broken CSV shows its line and field and adds nothing; two Markdown files are
    imported, listed, answered from in the chat, and their history names the admin."""
    await hub.add_user("root@example.com", Role.ADMIN, name="Root")
    errors: list[str] = []
    admin = await new_page(browser, errors)
    await log_in(admin, hub, "root@example.com", "/admin")
    await expect(admin.get_by_test_id("me-name")).to_have_text("Root")
    items = admin.get_by_test_id("article-list").get_by_test_id("article-item")
    await expect(items.first).to_be_visible()  # the demo knowledge base, once loaded
    count = await items.count()

    broken = tmp_path / "articles.csv"
    broken.write_text("title,questions,answer\n"
                      "Alpaca grooming,how do I groom my alpaca,Brush weekly.\n"
                      "Llama treats,,Carrots.\n", encoding="utf-8")
    await admin.get_by_test_id("import-toggle").click()
    await admin.get_by_test_id("import-file").set_input_files(broken)
    await admin.get_by_test_id("import-submit").click()
    error = admin.get_by_test_id("import-error")
    await expect(error).to_contain_text("articles.csv: row 3: field 'questions' is empty")
    await expect(error).to_contain_text("nothing was imported")
    await expect(items).to_have_count(count)

    alpaca, llama = tmp_path / "alpaca.md", tmp_path / "llama.md"
    alpaca.write_text("---\ntitle: Alpaca grooming\nquestions:\n  - How do I groom my alpaca?\n"
                      "---\nBrush the fleece weekly with a wide comb.\n", encoding="utf-8")
    llama.write_text("---\ntitle: Llama treats\nquestions: [what treats can a llama have]\n"
                     "---\nCarrots and apple slices.\n", encoding="utf-8")
    await admin.get_by_test_id("import-file").set_input_files([alpaca, llama])
    await admin.get_by_test_id("import-submit").click()
    await expect(admin.get_by_test_id("import-status")).to_have_text(
        "Imported 2 articles — live on the next message.")
    await expect(error).to_have_text("")
    await expect(items).to_have_count(count + 2)

    await items.filter(has_text="Alpaca grooming").click()
    await expect(admin.get_by_test_id("history-author")).to_have_text(
        " by Root (root@example.com)")
    reply = await (await hub.visitor()).ask("how should I groom my alpaca",
                                            knowledge_settled=False)  # the page said "live"
    assert reply["text"] == "Brush the fleece weekly with a wide comb."

    # edit the file, give it the article's id, and import it again in update mode, with
    # the rebuild held: the page says "going live" and the bot keeps the old answer until
    # the rebuild is in; then the page says "live" and the bot answers with the new one
    builder = hub.hub.knowledge.builder = GatedBuilder()
    builder.gate.clear()
    [alpaca_id] = [a.id for a in await hub.hub.store.list_articles()
                   if a.title == "Alpaca grooming"]
    alpaca.write_text(f"---\nid: {alpaca_id}\ntitle: Alpaca grooming\nquestions:\n"
                      "  - How do I groom my alpaca?\n---\nBrush it twice a week.\n",
                      encoding="utf-8")
    await admin.get_by_test_id("import-update").check()
    await admin.get_by_test_id("import-file").set_input_files(alpaca)
    await admin.get_by_test_id("import-submit").click()
    await expect(admin.get_by_test_id("import-status")).to_have_text(
        "Imported 1 article: 0 added, 1 updated, 0 unchanged — going live…")
    await expect(items).to_have_count(count + 2)
    reply = await (await hub.visitor()).ask("how should I groom my alpaca",
                                            knowledge_settled=False)
    assert reply["text"] == "Brush the fleece weekly with a wide comb."
    builder.gate.set()
    await expect(admin.get_by_test_id("import-status")).to_have_text(
        "Imported 1 article: 0 added, 1 updated, 0 unchanged — live on the next message.")
    reply = await (await hub.visitor()).ask("how should I groom my alpaca",
                                            knowledge_settled=False)  # the page said "live"
    assert reply["text"] == "Brush it twice a week."
    assert errors == []
