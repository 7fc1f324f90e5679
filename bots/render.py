"""One answer, each platform's format: the knowledge base writes a small Markdown subset
(``**bold**``, ``*italic*``, ``[text](url)``); every channel renders it its own way."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_EMPHASIS = re.compile(  # **bold** or *italic*, in one pass so one never re-reads the other
    r"\*\*(?P<bold>.+?)\*\*|(?<![*\w])\*(?!\s)(?P<italic>[^*\n]+?)(?<!\s)\*(?![*\w])"
)


def _convert(
    text: str,
    escape: Callable[[str], str],
    bold: str,
    italic: str,
    link: Callable[[str, str], str],
) -> str:
    """Render outside-in: links are cut out first so their URLs are never reformatted."""
    pieces: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        pieces.append(_inline(text[position:match.start()], escape, bold, italic))
        pieces.append(link(match.group(1), match.group(2)))
        position = match.end()
    pieces.append(_inline(text[position:], escape, bold, italic))
    return "".join(pieces)


def _inline(text: str, escape: Callable[[str], str], bold: str, italic: str) -> str:
    def emphasis(match: re.Match[str]) -> str:
        if match.group("bold") is not None:
            return bold.format(match.group("bold"))
        return italic.format(match.group("italic"))

    return _EMPHASIS.sub(emphasis, escape(text))


def plain(text: str) -> str:
    """SMS: no formatting; a link becomes ``text (url)``."""
    return _convert(text, lambda s: s, "{}", "{}",
                    lambda label, url: url if label == url else f"{label} ({url})")


def whatsapp(text: str) -> str:
    """WhatsApp: ``*bold*``, ``_italic_``; links are shown, WhatsApp makes them clickable."""
    return _convert(text, lambda s: s, "*{}*", "_{}_",
                    lambda label, url: url if label == url else f"{label} ({url})")


def telegram_html(text: str) -> str:
    """Telegram's HTML parse mode; everything else is escaped."""
    return _convert(text, lambda s: html.escape(s, quote=False), "<b>{}</b>", "<i>{}</i>",
                    lambda label, url: f'<a href="{html.escape(url)}">'
                                       f"{html.escape(label, quote=False)}</a>")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_mrkdwn(text: str) -> str:
    """Slack mrkdwn: ``*bold*``, ``_italic_``, ``<url|text>``; ``&``, ``<``, ``>`` escaped."""
    return _convert(text, _slack_escape, "*{}*", "_{}_",
                    lambda label, url: f"<{url}|{_slack_escape(label).replace('|', '/')}>")


def slack_plain(text: str) -> str:
    """Slack's ``text`` fallback (notifications): escaped, formatting dropped."""
    return _convert(text, _slack_escape, "{}", "{}",
                    lambda label, url: f"<{url}|{_slack_escape(label).replace('|', '/')}>")


def email_inline_html(text: str) -> str:
    """One line of an email's HTML part: ``<strong>``, ``<em>``, links; the rest escaped."""
    return _convert(text, lambda s: html.escape(s, quote=False), "<strong>{}</strong>",
                    "<em>{}</em>", lambda label, url: f'<a href="{html.escape(url)}">'
                                                      f"{html.escape(label, quote=False)}</a>")


def email_html(text: str) -> str:
    """An email's HTML part: paragraphs and line breaks kept, everything else escaped."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join("<p>" + "<br>\n".join(email_inline_html(line)
                                           for line in paragraph.splitlines()) + "</p>"
                     for paragraph in paragraphs)
