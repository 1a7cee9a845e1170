"""Who did something, as the vault records it in a case's history, notes and forwardings: an officer's
name and key fingerprint, "Name (fingerprint)" (Vault.actor, Colleague.actor), or "officer <fingerprint>"
for an officer who set no name (kept in English; labels.actor_text says it in the officer's language).

The name in that text is the one the officer had then: a colleague kept again under another name keeps
the old name in what was recorded before. So a record is matched to an officer by the fingerprint, never
by the text; records that keep no fingerprint of their own (vaults from before it was kept) have it read
back from the text here.
"""

from __future__ import annotations

import re

_NAMED = re.compile(r".*\((?P<fp>[0-9 ]{20,40})\)")  # a name may hold brackets: the last ones are the key's
_UNNAMED = re.compile(r"officer (?P<fp>[0-9 ]{20,40})")


def fingerprint_of(actor: str | None) -> str | None:
    """The key fingerprint in an actor text the vault recorded, None when it holds none."""
    text = (actor or "").strip()
    m = _UNNAMED.fullmatch(text) or _NAMED.fullmatch(text)
    return " ".join(m["fp"].split()) if m else None
