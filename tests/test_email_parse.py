"""Email, the parts without I/O: what a mail is read as, the signed marks, the reply."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from fakes.mail import mail

from bots.email_compose import Thread, compose_reply, reply_subject
from bots.email_parse import parse_mail
from bots.email_sign import MailSigner
from hub.model import OutboxItem, Suggestion

SUPPORT = "support@acme.test"
SIGNER = MailSigner("the hub's secret", SUPPORT)


def parse(raw: bytes, limit: int = 1024 * 1024):  # type: ignore[no-untyped-def]
    return parse_mail(raw, own_address=SUPPORT, max_attachment_bytes=limit)


def test_a_reply_is_read_as_its_new_text_without_quote_or_signature() -> None:
    body = ("Thanks, that worked! But the box was damaged.\n\nBest,\nJohn\n--\nJohn Smith\n"
            "ACME Corp\n\nOn Mon, Nov 30, 2026 at 10:00 AM Support <support@acme.test> wrote:\n"
            "> Your order ships in 3-5 business days.\n> Anything else?\n")
    parsed = parse(mail(body=body))
    assert parsed.text == "Thanks, that worked! But the box was damaged."
    assert "> Your order ships" in parsed.full_text  # the agent can still read it all


def test_an_outlook_reply_loses_the_original_message_block() -> None:
    body = ("Yes please, send a new one.\n\nFrom: Support <support@acme.test>\n"
            "Sent: Monday, November 30, 2026 10:00 AM\nTo: John <john@customer.test>\n"
            "Subject: Re: Damaged box\n\nWe are sorry to hear that.")
    assert parse(mail(body=body)).text == "Yes please, send a new one."


def test_html_only_mail_is_turned_into_text() -> None:
    html = ("<html><body><p>Hello,</p><p>where is <b>my order</b> #1234?</p>"
            "<script>alert(1)</script></body></html>")
    parsed = parse(mail(body="", html=html))
    assert parsed.html_only
    assert "where is my order #1234?" in parsed.text
    assert "<b>" not in parsed.text and "alert" not in parsed.text


def test_unknown_charset_and_broken_base64_are_read_with_a_note() -> None:
    raw = (b"From: a@customer.test\r\nTo: support@acme.test\r\nSubject: =?x-klingon?q?Qapla?=\r\n"
           b"Message-ID: <x@customer.test>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=x-klingon\r\n\r\nhello there\r\n")
    parsed = parse(raw)
    assert parsed.text == "hello there"
    assert any("x-klingon" in note for note in parsed.notes)
    broken = (b"From: a@customer.test\r\nTo: support@acme.test\r\nSubject: b\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
              b"\r\naGVsbG8gd29ybGQ*!!\r\n")
    read = parse(broken)
    assert read.text.startswith("hello world")
    assert read.notes
    assert read.message_id is None and read.dedupe_key.startswith("sha256:")


def test_garbage_is_a_mail_with_what_could_be_read_never_an_error() -> None:
    parsed = parse(b"\x00\xff\xfe not a mail at all \x80")
    assert parsed.notes and "\x00" not in parsed.text
    assert parsed.automated == "no sender address"  # nobody to answer


def test_automatic_mail_is_recognised() -> None:
    cases = {
        "Auto-Submitted": ("auto-replied", "Auto-Submitted"),
        "Precedence": ("bulk", "Precedence"),
        "X-Auto-Response-Suppress": ("All", "X-Auto-Response-Suppress"),
    }
    for header, (value, reason) in cases.items():
        parsed = parse(mail(headers={header: value}))
        assert parsed.automated is not None and reason in parsed.automated, header
    assert parse(mail(headers={"Auto-Submitted": "no"})).automated is None
    assert parse(mail(sender="MAILER-DAEMON@mx.customer.test")).automated
    assert parse(mail(sender=f"Us <{SUPPORT.upper()}>")).automated == "from our own address"
    assert parse(mail()).automated is None


def bounce(original_message_id: str, failed: str = "jane@customer.test") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r\nTo: support@acme.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.acme.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        " boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test\r\n"
        f"\r\nFinal-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@acme.test\r\n"
        f"To: {failed}\r\nMessage-ID: {original_message_id}\r\nSubject: Re: Shipping\r\n\r\n"
        "--B--\r\n").encode()


def test_a_bounce_names_the_failed_address_and_our_mail() -> None:
    ours = SIGNER.message_id(7, 42)
    parsed = parse(bounce(ours))
    assert parsed.automated == "delivery-status report"
    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("jane@customer.test",)
    assert parsed.bounce.original_message_ids == (ours,)


def test_attachments_over_the_limit_are_listed_not_kept() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@c.test", SUPPORT, "files"
    message.set_content("see attached")
    message.add_attachment(b"x" * 100, maintype="application", subtype="pdf",
                           filename="small.pdf")
    message.add_attachment(b"y" * 5000, maintype="image", subtype="png", filename="big.png")
    parsed = parse(bytes(message), limit=1000)
    small, big = parsed.attachments
    assert (small.filename, small.size, small.data) == ("small.pdf", 100, b"x" * 100)
    assert (big.filename, big.size, big.data) == ("big.png", 5000, None)
    assert parsed.text == "see attached"


def test_signed_marks_cannot_be_forged() -> None:
    address = SIGNER.reply_address(12)
    assert address.startswith("support+c-") and address.endswith("@acme.test")
    assert SIGNER.conversation_of_address(address) == 12
    assert SIGNER.conversation_of_address(address.upper()) == 12  # MTAs may fold case
    forged = address.replace("support+c-", "support+d-")
    assert SIGNER.conversation_of_address(forged) is None
    other = MailSigner("another hub's secret", SUPPORT)
    assert SIGNER.conversation_of_address(other.reply_address(12)) is None
    ours = SIGNER.message_id(12, 99)
    assert SIGNER.conversation_of_message_id(ours) == 12
    assert SIGNER.conversation_of_message_id(other.message_id(12, 99)) is None
    assert SIGNER.looks_like_ours(other.message_id(12, 99))
    assert SIGNER.conversation_of_message_id("<12@customer.test>") is None


def test_a_reply_is_alternative_text_and_html_threaded_and_marked_automatic() -> None:
    item = OutboxItem(1, 99, 12, "email", "jane@customer.test",
                      "Orders ship in **3-5 business days**. See [tracking](https://t.test/x).",
                      (Suggestion(3, "Refunds"), Suggestion(4, "Returns & exchanges")), 0)
    composed = compose_reply(item, signer=SIGNER, team_name="Acme Support", bot=True,
                             thread=Thread("Shipping", ("<m1@customer.test>", "<m2@c.test>")))
    message = message_from_bytes(bytes(composed), policy=policy.default)
    assert message["Subject"] == "Re: Shipping"
    assert message["In-Reply-To"] == "<m2@c.test>"
    assert message["References"] == "<m1@customer.test> <m2@c.test>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert SIGNER.conversation_of_address(message["Reply-To"].addresses[0].addr_spec) == 12
    assert SIGNER.conversation_of_message_id(message["Message-ID"]) == 12
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "3-5 business days" in text and "**" not in text
    assert "1. Refunds" in text and "2. Returns & exchanges" in text
    assert "<strong>3-5 business days</strong>" in html
    assert '<a href="https://t.test/x">tracking</a>' in html
    assert "Returns &amp; exchanges" in html
    agent = compose_reply(OutboxItem(2, 100, 12, "email", "jane@customer.test", "Hi", (), 0,
                                     agent_name="Ann"),
                          signer=SIGNER, team_name="Acme Support", bot=False, thread=Thread())
    assert agent["From"].addresses[0].display_name == "Ann (Acme Support)"
    assert agent["Auto-Submitted"] is None and agent["In-Reply-To"] is None
    assert reply_subject("RE: Shipping") == "RE: Shipping"
    assert reply_subject("AW: Versand") == "AW: Versand"


def test_server_urls_are_read_and_bad_ones_refused_clearly() -> None:
    import pytest

    from bots.email_transport import imap_url, listen_address, smtp_url
    from hub.config import ConfigError

    relay = smtp_url("smtp://127.0.0.1:2525")
    assert (relay.host, relay.port, relay.username, relay.tls) == ("127.0.0.1", 2525, None, False)
    gmail = smtp_url("smtps://support%40acme.test:p%40ss%2Fw@smtp.gmail.com")
    assert (gmail.port, gmail.username, gmail.password, gmail.tls) == (
        465, "support@acme.test", "p@ss/w", True)
    inbox = imap_url("imaps://u:p@imap.example.com")
    assert (inbox.port, inbox.path, inbox.tls) == (993, "INBOX", True)
    assert imap_url("imap://u:p@127.0.0.1:1143/Support%20Mail").path == "Support Mail"
    assert listen_address("0.0.0.0:2525") == ("0.0.0.0", 2525)
    for bad in ("http://smtp.example.com", "smtp://", "smtp://host:notaport"):
        with pytest.raises(ConfigError, match="SUPPORTHUB_SMTP_URL"):
            smtp_url(bad)
    with pytest.raises(ConfigError, match="SUPPORTHUB_EMAIL_LISTEN"):
        listen_address("2525")
