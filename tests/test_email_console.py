"""The console shows a mail's subject, sender, attachments and "Show original" (Chromium)."""

from __future__ import annotations

from email.message import EmailMessage

from conftest import HubFactory, log_in, new_page
from fakes.mail import ProviderSmtp
from playwright.async_api import Browser, expect
from test_email import SUPPORT, channel, deliver, start


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


async def test_an_unsubscribe_by_the_links_page_shows_on_the_contact_panel(
    start_hub: HubFactory, provider: ProviderSmtp, browser: Browser,
) -> None:
    """The customer opens the List-Unsubscribe link in a browser and presses the button;
    the agent sees the email opt-out on the contact panel."""
    hub = await start(start_hub, provider)
    message = EmailMessage()
    message["From"], message["To"] = "Jane Doe <jane@customer.test>", SUPPORT
    message["Subject"], message["Message-ID"] = "Where is my order", "<o1@customer.test>"
    message.set_content("agent\n\nIt has been two weeks.")
    await deliver(hub, bytes(message))
    await provider.wait_for(1)
    token = channel(hub).signer.unsubscribe_token("jane@customer.test")
    errors: list[str] = []
    customer = await new_page(browser, errors)
    await customer.goto(hub.url(f"/email/unsubscribe/{token}"))
    await expect(customer.get_by_role("heading")).to_have_text("Unsubscribe")
    assert await hub.hub.store.consent("email", "jane@customer.test", SUPPORT) is None
    await customer.get_by_test_id("unsubscribe").click()
    await expect(customer.get_by_role("heading")).to_have_text("Unsubscribed")
    await expect(customer.locator("body")).to_contain_text("j***@customer.test")

    await hub.add_user("ann@example.com", name="Ann")
    agent = await new_page(browser, errors)
    await log_in(agent, hub, "ann@example.com")
    await agent.get_by_test_id("queue-list").get_by_test_id("conversation-item").first.click()
    consent = agent.get_by_test_id("contact-panel").get_by_test_id("contact-consent")
    await expect(consent).to_have_text("No messages on email (jane@customer.test): "
                                       "unsubscribed (one click): no mail we write first")
    assert not errors, errors
