"""The console shows a mail's subject, sender, attachments and "Show original" (Chromium)."""

from __future__ import annotations

from email.message import EmailMessage

from conftest import HubFactory, log_in, new_page
from fakes.mail import ProviderSmtp
from playwright.async_api import Browser, expect
from test_email import SUPPORT, deliver, start


async def test_the_console_shows_subject_sender_attachments_and_the_original(
    start_hub: HubFactory, provider: ProviderSmtp, browser: Browser,
) -> None:
    hub = await start(start_hub, provider)
    message = EmailMessage()
    message["From"], message["To"] = "Jane Doe <jane@customer.test>", SUPPORT
    message["Subject"], message["Message-ID"] = "Teapot arrived broken", "<t1@customer.test>"
    message.set_content("agent\n\nThe spout is cracked, photo attached.")
    message.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="spout.png")
    await deliver(hub, bytes(message))
    await provider.wait_for(1)
    await hub.add_user("ann@example.com", name="Ann")
    errors: list[str] = []
    page = await new_page(browser, errors)
    await log_in(page, hub, "ann@example.com")
    await page.get_by_test_id("search-input").fill("spout")
    await page.get_by_test_id("results-list").get_by_test_id("conversation-item").first.click()
    details = page.get_by_test_id("mail-details").first
    await expect(details).to_contain_text("Subject: Teapot arrived broken")
    await expect(details).to_contain_text("From: Jane Doe <jane@customer.test>")
    link = details.get_by_role("link", name="spout.png (1 KB)")
    assert (await link.get_attribute("download")) == "spout.png"
    async with page.expect_download() as downloading:
        await link.click()
    download = await downloading.value
    assert download.suggested_filename == "spout.png"
    original = details.get_by_role("link", name="Show original")
    assert (await original.get_attribute("href") or "").endswith("/original")
    assert not errors, errors
