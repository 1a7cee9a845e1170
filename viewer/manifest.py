"""What a signed export manifest may claim, checked before any item of the bundle is read.

The signature says who made the manifest, not that its fields are sane: a compromised server signs
whatever it likes. So every claim is checked here for shape (case numbers, days, hashes, places)
and against the vault (our desk, the next bundle in its chain); a refusal names what is wrong and
says that nothing was imported.
"""

from __future__ import annotations

import json
import re

import crypto
from crypto import bundle
from crypto.bundle import BundleError

from . import documents
from .errors import Refused
from .i18n import N_, _
from .vault import Vault

CASE_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,15}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_bundle(
    vault: Vault, manifest: bundle.Manifest, key: crypto.VerifyKey, *, start_chain: bool = False
) -> None:
    """The signed manifest's claims, before any item is read: our desk, the next in its chain (or,
    with `start_chain` and nothing imported for the desk yet, the first of this vault's chain)."""
    desk = manifest.data.get("desk")
    if desk not in vault.desks:
        raise Refused(
            "wrong_desk",
            _(
                "refused: this bundle is for desk %(desk)r, and this vault serves %(served)s; nothing was "
                "imported",
                desk=documents.one_line(desk, 40),
                served=", ".join(vault.desks) or _("no desk yet"),
            ),
        )
    last = vault.db.execute(
        "SELECT last_sequence, last_sha256 FROM state.desks WHERE slug = ?", (desk,)
    ).fetchone()
    chain = {"n": manifest.data.get("sequence"), "last": last[0], "missing": last[0] + 1}
    if start_chain:
        if last[0] != 0:
            raise Refused(
                "chain_started",
                _(
                    "refused: this vault has already imported bundles of desk %(desk)s (the last was "
                    "#%(last)d): --start-chain is only for its first; nothing was imported",
                    desk=desk,
                    last=last[0],
                ),
            )
        sequence = manifest.data.get("sequence")
        start = sequence - 1 if isinstance(sequence, int) and sequence > 0 else 0
        refusing(lambda: bundle.check_chain(manifest, start, manifest.data.get("previous")), key, chain)
    else:
        refusing(lambda: bundle.check_chain(manifest, last[0], last[1]), key, chain)
    _check_items(manifest.items)


def refusing(fn, key, chain: dict | None = None):
    """Run `fn`, turning the crypto layer's refusals into the viewer's, in the officer's language:
    what was refused and why, and that nothing was imported. `chain`: the bundle's sequence number
    ("n"), the last one imported ("last") and the one expected ("missing"), for the chain's refusals."""
    try:
        return fn()
    except BundleError as e:
        raise Refused(e.reason, _refusal_words(e, key, chain or {})) from None


def _refusal_words(e: BundleError, key, chain: dict) -> str:
    reason = e.reason
    if reason == "tampered" and e.item:
        return _(
            "refused: %(item)s of the bundle does not match its manifest: it was changed or is damaged; "
            "nothing was imported",
            item=e.item,
        )
    if reason == "tampered" and e.trailing:
        return _(
            "refused: the bundle has bytes after its last item: it was changed or is damaged; nothing "
            "was imported"
        )
    if reason == "truncated" and e.item:
        return _(
            "refused: the bundle is cut short inside %(item)s (a copy that did not finish?); nothing "
            "was imported",
            item=e.item,
        )
    if reason == "bad_signature":
        return _(
            "refused: this bundle is not signed by the server key pinned in this vault (fingerprint "
            "%(fp)s): it comes from another server, or was altered; nothing was imported",
            fp=key.fingerprint,
        )
    if reason == "replayed":
        return _(
            "refused: bundle %(n)s was already imported (last imported: %(last)s); nothing was imported",
            **chain,
        )
    if reason == "withheld" and chain.get("last") == 0:
        return _(
            "refused: bundle %(n)s arrived and this vault has imported none before it; if the desk made "
            "bundles 1 to %(before)s before your key joined it, start this vault's chain here with "
            "`sealview import --start-chain`; nothing was imported",
            n=chain["n"],
            before=chain["n"] - 1,
        )
    if reason == "withheld":
        return _(
            "refused: bundle %(n)s arrived but %(missing)s is missing: import the bundles in order; nothing "
            "was imported",
            **chain,
        )
    if reason == "forked":
        return _(
            "refused: bundle %(n)s does not follow the bundle imported before it; nothing was imported",
            **chain,
        )
    words = {
        "wrong_kind": N_("refused: this is not an export bundle; nothing was imported"),
        "not_a_bundle": N_("refused: this file is not a sealdrop bundle; nothing was imported"),
        "truncated": N_(
            "refused: the bundle is cut short (a copy that did not finish?); nothing was imported"
        ),
    }
    default = N_("refused: the bundle was changed after it was signed, or is damaged; nothing was imported")
    return _(words.get(reason, default))


MAX_PLACES = 500


def desk_places(claimed: object) -> list[tuple[str, str, float, float]]:
    """The desk's named places from a signed manifest, coerced like everything else that arrives:
    (name, names as JSON, lat, lon) for each one with a name and a position on the globe."""
    places = []
    for p in claimed[:MAX_PLACES] if isinstance(claimed, list) else []:
        if not isinstance(p, dict) or not isinstance(p.get("names"), dict):
            continue
        names = {
            documents.one_line(k, 8): documents.one_line(v, 120)
            for k, v in list(p["names"].items())[:10]
            if isinstance(k, str) and isinstance(v, str) and documents.one_line(v, 120)
        }
        lat, lon = p.get("lat"), p.get("lon")
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lat, lon))
        if names and numbers and -90 <= lat <= 90 and -180 <= lon <= 180:
            name = names.get("en") or next(iter(names.values()))
            places.append((name, json.dumps(names, ensure_ascii=False), float(lat), float(lon)))
    return places


MAX_CATEGORIES = 200


def desk_categories(claimed: object) -> dict[str, dict[str, str]]:
    """The desk's categories from a signed manifest's optional `categories` field, a list of
    {"slug", "names": {lang: name}}, coerced like the places: {slug: {lang: name}}."""
    found = {}
    for c in claimed[:MAX_CATEGORIES] if isinstance(claimed, list) else []:
        if not isinstance(c, dict) or not isinstance(c.get("names"), dict):
            continue
        slug = documents.one_line(c.get("slug"), 40)
        names = {
            documents.one_line(k, 8): documents.one_line(v, 200)
            for k, v in list(c["names"].items())[:10]
            if isinstance(k, str) and isinstance(v, str) and documents.one_line(v, 200)
        }
        if slug and names:
            found[slug] = names
    return found


MAX_KEY_CHANGES = 200
MAX_STATEMENT = 4096  # crypto.statement.MAX_TEXT
KEY_ACTIONS = frozenset({"registered", "bootstrap", "confirmed", "rotated", "retired", "removed", "routing"})
KEY_ID = re.compile(r"^[0-9a-f]{32}$")
FINGERPRINT = re.compile(r"^\d{5}( \d{5}){4}$")


def _key_fields(entry: dict) -> dict:
    key_id, fp = entry.get("key_id"), entry.get("fingerprint")
    return {
        "key_id": key_id if isinstance(key_id, str) and KEY_ID.match(key_id) else "",
        "fingerprint": fp if isinstance(fp, str) and FINGERPRINT.match(fp) else "",
        "name": documents.one_line(entry.get("name"), 200),
    }


def desk_key_changes(claimed: object) -> list[dict]:
    """The optional `key_changes` of a signed manifest (docs/key-trust.md), coerced: each with an
    action we know, a day, and who did it; `by_officer` only when it is exactly true."""
    found = []
    for c in claimed[:MAX_KEY_CHANGES] if isinstance(claimed, list) else []:
        if not isinstance(c, dict) or c.get("action") not in KEY_ACTIONS:
            continue
        day = c.get("day") if isinstance(c.get("day"), str) and DAY.match(c["day"]) else ""
        signed = c.get("statement")
        found.append(
            {"action": c["action"], "day": day, **_key_fields(c),
             "detail": documents.one_line(c.get("detail"), 200), "by": documents.one_line(c.get("by"), 80),
             "by_officer": c.get("by_officer") is True,
             "statement": signed if isinstance(signed, str) and len(signed) <= MAX_STATEMENT else ""}
        )  # fmt: skip
    return found


def desk_recipients(claimed: object) -> list[dict]:
    """The optional `recipients` of a signed manifest: the keys the desk's reports are sealed to now."""
    found = []
    for r in claimed[:MAX_KEY_CHANGES] if isinstance(claimed, list) else []:
        if isinstance(r, dict) and (fields := _key_fields(r))["key_id"]:
            public = r.get("public_key")
            fields["public_key"] = public if isinstance(public, str) and len(public) <= 200 else ""
            found.append(fields)
    return found


def _check_items(items: list[dict]) -> None:
    for i, item in enumerate(items):
        ok = (
            isinstance(item.get("case_number"), str)
            and CASE_NUMBER.match(item["case_number"])
            and isinstance(item.get("submission"), int)
            and not isinstance(item["submission"], bool)
            and isinstance(item.get("part"), int)
            and not isinstance(item["part"], bool)
            and item["part"] >= 0
            and isinstance(item.get("received_day"), str)
            and DAY.match(item["received_day"])
            and isinstance(item.get("reply_public"), str)
            and HEX64.match(item["reply_public"])
            and HEX64.match(item["sha256"])
        )
        if not ok:
            raise Refused(
                "tampered",
                _(
                    "refused: %(item)s of the bundle's manifest is malformed; nothing was imported",
                    item=f"item-{i}",
                ),
            )
