"""Signed threading marks: the ``reply+<token>@`` address and the Message-IDs of our mails.

Both name a conversation and carry an HMAC made with the hub's secret, so a stranger cannot
write one that threads their mail into someone else's conversation (FreeScout
GHSA-6r38-6mcf-2ww3): a mark whose signature does not verify names nothing.

- address: ``support+<conv hex>-<sig>@example.com`` (lower case: some MTAs fold local parts);
- Message-ID: ``<sh.<conv hex>.<message hex>.<sig>@example.com>``;
- unsubscribe token (``List-Unsubscribe`` of mail we write first): ``<address, base64url>.<sig>``,
  the signature over the support address and the recipient's, so a link unsubscribes that
  one address from this sender and nobody can make one for another address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_SIG_CHARS = 16  # base32 characters: 80 bits
_UNSUBSCRIBE_SIG_CHARS = 26  # 130 bits: the token stands alone (no conversation to guess)
_UNSUBSCRIBE = re.compile(r"^([A-Za-z0-9_-]{4,400})\.([a-z2-7]{26})$")
_TOKEN = re.compile(r"^([0-9a-f]{1,12})-([a-z2-7]{16})$")
_MESSAGE_ID = re.compile(r"^<?sh\.([0-9a-f]{1,12})\.([0-9a-f]{1,12})\.([a-z2-7]{16})@([^>\s]+)>?$",
                         re.IGNORECASE)


def split_address(address: str) -> tuple[str, str]:
    """``Local+Tag@Example.COM`` → (``local+tag``, ``example.com``)."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local.lower(), domain.lower()


@dataclass(frozen=True, slots=True)
class MailSigner:
    secret: str
    address: str  # the support address

    @property
    def domain(self) -> str:
        return split_address(self.address)[1]

    @property
    def local(self) -> str:
        return split_address(self.address)[0]

    def _sign(self, kind: str, *parts: int) -> str:
        payload = ":".join([kind, *(format(p, "x") for p in parts)]).encode()
        digest = hmac.new(self.secret.encode(), payload, hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:_SIG_CHARS]

    # reply+token addresses ---------------------------------------------------
    def reply_address(self, conversation_id: int) -> str:
        sig = self._sign("reply", conversation_id)
        return f"{self.local}+{conversation_id:x}-{sig}@{self.domain}"

    def is_ours(self, address: str) -> bool:
        """The support address or one of its ``+`` aliases (signed or not)."""
        local, domain = split_address(address)
        return domain == self.domain and (local == self.local
                                          or local.startswith(self.local + "+"))

    def conversation_of_address(self, address: str) -> int | None:
        """The conversation a ``reply+<token>@`` address names, if its signature holds."""
        local, domain = split_address(address)
        if domain != self.domain or not local.startswith(self.local + "+"):
            return None
        match = _TOKEN.match(local[len(self.local) + 1:])
        if match is None:
            return None
        conversation_id = int(match.group(1), 16)
        if not hmac.compare_digest(match.group(2), self._sign("reply", conversation_id)):
            return None
        return conversation_id

    # unsubscribe links ---------------------------------------------------------
    def _sign_address(self, address: str) -> str:
        payload = f"unsubscribe:{self.address.lower()}:{address.lower()}".encode()
        digest = hmac.new(self.secret.encode(), payload, hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:_UNSUBSCRIBE_SIG_CHARS]

    def unsubscribe_token(self, address: str) -> str:
        """A token naming ``address`` (lower case) for our unsubscribe link and mailto."""
        address = address.strip().lower()
        encoded = base64.urlsafe_b64encode(address.encode()).decode().rstrip("=")
        return f"{encoded}.{self._sign_address(address)}"

    def address_of_unsubscribe_token(self, token: str) -> str | None:
        """The address an unsubscribe token names, if its signature holds; else None."""
        match = _UNSUBSCRIBE.match(token.strip())
        if match is None:
            return None
        encoded = match.group(1)
        try:
            address = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if "@" not in address or not hmac.compare_digest(match.group(2),
                                                         self._sign_address(address)):
            return None
        return address.lower()

    # Message-IDs ---------------------------------------------------------------
    def message_id(self, conversation_id: int, message_id: int) -> str:
        sig = self._sign("mid", conversation_id, message_id)
        return f"<sh.{conversation_id:x}.{message_id:x}.{sig}@{self.domain}>"

    def looks_like_ours(self, message_id: str) -> bool:
        """In our Message-ID form, whether or not the signature holds."""
        return _MESSAGE_ID.match(message_id.strip()) is not None

    def conversation_of_message_id(self, message_id: str) -> int | None:
        """The conversation one of our Message-IDs names; None if not ours or forged."""
        match = _MESSAGE_ID.match(message_id.strip())
        if match is None or match.group(4).lower() != self.domain:
            return None
        conversation_id, ours = int(match.group(1), 16), int(match.group(2), 16)
        expected = self._sign("mid", conversation_id, ours)
        if not hmac.compare_digest(match.group(3).lower(), expected):
            return None
        return conversation_id
