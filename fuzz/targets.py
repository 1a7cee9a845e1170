"""One function per parser, `target(data: bytes) -> None`: it feeds `data` to the parser and lets
through only the parser's documented refusal; anything else escaping is a bug, and through HTTP a
5xx is one (raised as `ServerError`).

The first byte of `data` picks how the rest is used: as it is, or as changes to a valid input
(`mutated`), so a fuzzer starting from nothing still reaches past the first length check.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import crypto
import metadata
from crypto import bundle
from dropbox import bundles, scrub
from viewer import documents, manifest
from viewer.errors import Refused

Target = Callable[[bytes], None]


class ServerError(AssertionError):
    """The server answered 5xx."""


def mutated(valid: bytes, changes: bytes) -> bytes:
    """`valid` with the changes that `changes` spells: pairs of (position, xor), then a cut."""
    out = bytearray(valid)
    for i in range(0, len(changes) - 1, 3):
        position = int.from_bytes(changes[i : i + 2], "big") % max(1, len(out))
        if i + 2 < len(changes):
            out[position] ^= changes[i + 2] or 1
    if changes and changes[-1] & 0x80 and out:
        del out[int.from_bytes(changes[-2:], "big") % len(out) :]
    return bytes(out)


def pick(data: bytes, valid: bytes) -> bytes:
    """The input a target parses: `data[1:]` as it is, or as changes to `valid`."""
    if not data:
        return b""
    return mutated(valid, data[1:]) if data[0] & 1 else data[1:]


# -- crypto ------------------------------------------------------------------------------------------


@functools.cache
def _officer() -> tuple[crypto.Identity, bytes]:
    identity = crypto.Identity.generate()
    return identity, crypto.seal_bytes(b'{"what": "a report"}', [identity.public_key.recipient])


def envelope(data: bytes) -> None:
    identity, valid = _officer()
    raw = pick(data, valid)
    try:
        crypto.recipient_key_ids(io.BytesIO(raw))
        crypto.unseal_bytes(raw, [identity.decryption_key])
    except crypto.SealdropCryptoError:
        pass


@functools.cache
def _signer() -> tuple[crypto.SigningKey, bytes]:
    key = crypto.SigningKey.generate()
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        item = Path(tmp) / "item"
        item.write_bytes(b"sealed reply")
        fields = {"desk": "demo", "sequence": 1, "previous": None, "officer": "k", "confirmations": []}
        bundle.write(out, "replies", fields, [({"case_number": "ABC"}, item)], key)
    return key, out.getvalue()


def signed(manifest_bytes: bytes, key: crypto.SigningKey, rest: bytes = b"", kind: str = "replies") -> bytes:
    """A bundle whose (fuzzed) manifest carries a valid signature: the parser behind it is reached."""
    signature = key.sign(f"{kind}-bundle", manifest_bytes)
    return bundle.MAGIC + struct.pack(">I", len(manifest_bytes)) + manifest_bytes + signature + rest


def _manifest_and_rest(valid: bytes) -> tuple[bytes, bytes]:
    start = len(bundle.MAGIC) + 4
    (length,) = struct.unpack(">I", valid[len(bundle.MAGIC) : start])
    return valid[start : start + length], valid[start + length + bundle.SIG_LEN :]


def crypto_bundle(data: bytes) -> None:
    key, valid = _signer()
    raw = pick(data, valid)
    if data[:1] and data[0] & 2:  # re-sign whatever the manifest became
        manifest_bytes, rest = _manifest_and_rest(valid)
        raw = signed(pick(data, manifest_bytes), key, rest)
    try:
        src = io.BytesIO(raw)
        found = bundle.read_manifest(src, "replies", [key.verify_key])
        for _, reader in bundle.items(src, found):
            reader.read()
        bundle.check_chain(found, 0, None)
    except bundle.BundleError:
        pass


@functools.cache
def _desk_side():
    """The demo instance's database and blob store, its officer's key, and a valid reply bundle."""
    from dropbox import config, db
    from dropbox.blobs import FileBlobStore

    instance = _instance()
    cfg = config.load(instance)
    identity = crypto.Identity.load(instance / "demo-officer.identity", "")
    officer = identity.public_key.recipient.key_id.hex()
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        item = Path(tmp) / "item"
        reporter = crypto.Identity.generate().public_key.recipient
        item.write_bytes(crypto.seal_bytes(b'{"text": "thanks"}', [reporter]))
        confirmations = [{"sequence": 1, "sha256": "0" * 64}]
        fields = {"desk": "demo", "sequence": 1, "previous": None, "officer": officer,
                  "created_day": "2026-01-01", "confirmations": confirmations}  # fmt: skip
        bundle.write(out, "replies", fields, [({"case_number": "ABC-123"}, item)], identity.signing_key)
    session = db.standalone_session(cfg.database_url)
    return session, FileBlobStore(cfg.blob_dir), identity.signing_key, out.getvalue()


def desk_bundle(data: bytes) -> None:
    """A reply bundle uploaded at the desk (`bundles.import_replies`): what it claims before its
    signature is checked, then, re-signed by the desk's officer, everything after."""
    session, store, key, valid = _desk_side()
    raw = pick(data, valid)
    if data[:1] and data[0] & 2:
        manifest_bytes, rest = _manifest_and_rest(valid)
        raw = signed(pick(data, manifest_bytes), key, rest)
    with tempfile.NamedTemporaryFile() as f:
        f.write(raw)
        f.flush()
        try:
            bundles.import_replies(session, store, Path(f.name))
        except bundle.BundleError:
            session.rollback()


# -- viewer ------------------------------------------------------------------------------------------

VALID_DOCUMENT = json.dumps({
    "format": "sealdrop-report/1", "kind": "report", "desk": "demo", "language": "bg",
    "category": {"slug": "drugs", "name": "Drugs"}, "what": "text", "when": "today",
    "where": {"mode": "device", "lat": 42.1, "lon": 23.3, "precision": "100m", "accuracy_m": 20},
    "attachments": [{"name": "photo.jpg", "type": "image/jpeg", "size": 10, "sha256": "0" * 64}],
}).encode()  # fmt: skip
VALID_PLACES = json.dumps({"places": [{"id": 1, "names": {"en": "Square", "bg": "Площад"}, "lat": 42.1,
                                        "lon": 23.3}]}).encode()  # fmt: skip


def viewer_import(data: bytes) -> None:
    """What the viewer makes of untrusted JSON before it touches the vault: a report document
    (`documents.parse`, which never raises), the places and items a signed manifest claims."""
    documents.parse(pick(data, VALID_DOCUMENT))
    try:
        claimed = documents.json_object(pick(data, VALID_PLACES))
    except documents.NotAnObject:
        return
    manifest.desk_places(claimed.get("places"))
    items = claimed.get("items")
    if isinstance(items, list) and all(
        isinstance(i, dict) and isinstance(i.get("sha256"), str) for i in items
    ):  # what crypto.bundle checked before
        with contextlib.suppress(Refused):
            manifest._check_items(items)


@functools.cache
def _vault():
    """A vault (its passphrase at libsodium's cheapest cost: it guards nothing here) pinning a server
    key for desk "demo", and a valid export bundle of one report from that server."""
    from viewer.vault import Vault

    crypto.keys.KDF_OPSLIMIT, crypto.keys.KDF_MEMLIMIT = 1, 8192 * 1024
    officer, server = crypto.Identity.generate(), crypto.SigningKey.generate()
    path = Path(tempfile.mkdtemp(prefix="sealview-fuzz-")) / "vault"
    with Vault.create(path, "fuzz", officer, name="Fuzz") as created:
        created.pin(server.verify_key, ["demo"])
    meta = {"case_number": "ABC-123", "submission": 1, "part": 0, "first": True, "sealed_by": "browser",
            "received_day": "2026-01-01", "reply_public": "ab" * 32}  # fmt: skip
    fields = {"desk": "demo", "sequence": 1, "previous": None, "created_day": "2026-01-01",
              "places": json.loads(VALID_PLACES)["places"]}  # fmt: skip
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        item = Path(tmp) / "item"
        item.write_bytes(crypto.seal_bytes(VALID_DOCUMENT, [officer.public_key.recipient]))
        bundle.write(out, "export", fields, [(meta, item)], server)
    return Vault.open(path, "fuzz", write=True), server, out.getvalue()


def viewer_bundle(data: bytes) -> None:
    """An export bundle into the vault (`importer.import_bundle`), as it came or re-signed by the
    pinned server key so that the manifest's claims and the items behind them are reached."""
    from viewer import importer
    from viewer.errors import ViewerError

    vault, key, valid = _vault()
    raw = pick(data, valid)
    if data[:1] and data[0] & 2:
        manifest_bytes, rest = _manifest_and_rest(valid)
        raw = signed(pick(data, manifest_bytes), key, rest, kind="export")
    with tempfile.NamedTemporaryFile() as f:
        f.write(raw)
        f.flush()
        with contextlib.suppress(ViewerError, bundle.BundleError):
            importer.import_bundle(vault, Path(f.name))


# -- pictures and media ------------------------------------------------------------------------------


@functools.cache
def _pictures() -> list[bytes]:
    from PIL import Image

    made = []
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        out = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 30, 30)).save(out, fmt)
        made.append(out.getvalue())
    return made


def picture_scrubber(data: bytes) -> None:
    pictures = _pictures()
    valid = pictures[(data[0] >> 1) % len(pictures)] if data else b""
    with contextlib.suppress(scrub.RejectedFile):
        scrub.scrub(pick(data, valid), "photo.jpg", "image/jpeg", keep=bool(data[:1] and data[0] & 0x80))


MAGIC = {  # a first few bytes that make sniff() pick each cleaner, so mutations start inside it
    "bmff": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "heif": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    "matroska": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
    "ogg": b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00",
    "flac": b"fLaC\x00\x00\x00\x22" + b"\x00" * 34,
    "amr": b"#!AMR\n" + b"\x3c" * 32,
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x10TIT2\x00\x00\x00\x02\x00\x00\x00a\xff\xfb\x90\x00",
}


def metadata_cleaners(data: bytes) -> None:
    families = sorted(MAGIC)
    family = families[(data[0] >> 1) % len(families)] if data else "bmff"
    raw = pick(data, MAGIC[family] + b"\x00" * 64)
    try:
        plan = metadata.plan_for(metadata.BytesSource(raw), family)
        for _ in metadata.iter_pieces(metadata.BytesSource(raw), plan.pieces):
            pass
    except metadata.CannotClean:
        pass


# -- through HTTP: a demo app behind the Flask test client ---------------------------------------------


@functools.cache
def _instance() -> Path:
    """A demo instance in a new temporary directory (left for the OS to clean: fuzzing may crash)."""
    from dropbox import cli

    instance = Path(tempfile.mkdtemp(prefix="sealdrop-fuzz-")) / "instance"
    with open("/dev/null", "w") as quiet, contextlib.redirect_stdout(quiet):
        assert cli.main(["init", "--demo", "--dir", str(instance)]) == 0
    return instance


@functools.cache
def _app():
    from dropbox import config, create_app

    app = create_app(config.load(_instance()))
    client = app.test_client()
    html = client.get("/r/demo?lang=en").get_data(as_text=True)
    page = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return client, page, form_token


def _answered(response) -> None:
    if response.status_code >= 500:
        raise ServerError(f"{response.status_code} from {response.request.path}")


API_CALLS = [("POST", "/uploads"), ("POST", "/reports"), ("POST", "/additions"), ("POST", "/case"),
             ("PUT", "/uploads/{id}?offset={a}"), ("PUT", "/uploads/{id}?offset=0&size={a}"),
             ("GET", "/uploads/{id}"), ("GET", "/csrf")]  # fmt: skip
VALID_CALL = json.dumps({"category": 1, "parts": ["0" * 32], "lookup_id": "A" * 43 + "=",
                         "reply_public": "A" * 43 + "=", "size": 100, "sizes": [100]}).encode()  # fmt: skip


def api_json(data: bytes) -> None:
    """Every JSON endpoint of dropbox/api.py, with the page's token: a body, a query, an id."""
    client, page, _ = _app()
    method, path = API_CALLS[(data[0] >> 1) % len(API_CALLS)] if data else API_CALLS[0]
    body = pick(data, VALID_CALL)
    text = body.decode("latin-1")
    path = path.format(id=text[:32] or "0" * 32, a=text[:20])
    content_type = "application/octet-stream" if data[:1] and data[0] & 0x80 else "application/json"
    if content_type == "application/octet-stream" and path == "/reports":
        body = struct.pack(">I", len(body) // 2) + body
    response = client.open(f"/api/demo{path}", method=method, data=body, content_type=content_type,
                           headers={"X-Sealdrop-CSRF": page["csrf"]})  # fmt: skip
    _answered(response)


def _multipart(fields: list[tuple[str, bytes]], boundary: str = "fuzzboundary") -> bytes:
    out = io.BytesIO()
    for name, value in fields:
        filename = b'; filename="photo.jpg"\r\nContent-Type: image/jpeg' if name == "files" else b""
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode() + filename)
        out.write(b"\r\n\r\n" + value + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


FORM_NAMES = ["category", "what", "when", "where_mode", "where_text", "where_place", "contact",
              "keep_metadata", "files", "lang", "receipt", "receipt_sealed", "last_group", "case_token",
              "reply_access"]  # fmt: skip
PAGES = ["", "", "/check", "/receipt", "/done", "/add"]  # the report form twice as often as each other


@functools.cache
def _check_token() -> str:
    client, _, _ = _app()
    html = client.get("/r/demo/check?lang=en").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def nojs_form(data: bytes) -> None:
    """Every no-JS form of the reporter's pages (report, receipt, done, check, add), as multipart:
    fuzzed fields beside the page's valid token, or a fuzzed body."""
    client, page, form_token = _app()
    where = PAGES[(data[0] >> 1) % len(PAGES)] if data else ""
    token = _check_token() if where == "/check" else form_token
    if data[:1] and data[0] & 1:
        body = data[1:]  # the whole multipart body, boundary and all
    else:
        values = data[1:].split(b"\x00")
        fields = [("csrf_token", token.encode()), ("category", next(iter(page["categories"])).encode())]
        fields += [(FORM_NAMES[i % len(FORM_NAMES)], v) for i, v in enumerate(values[: len(FORM_NAMES)])]
        body = _multipart(fields)
    response = client.post(f"/r/demo{where}?lang=en", data=body,
                           content_type="multipart/form-data; boundary=fuzzboundary")  # fmt: skip
    _answered(response)


TARGETS: dict[str, Target] = {
    "envelope": envelope,
    "crypto_bundle": crypto_bundle,
    "desk_bundle": desk_bundle,
    "viewer_import": viewer_import,
    "viewer_bundle": viewer_bundle,
    "picture_scrubber": picture_scrubber,
    "metadata_cleaners": metadata_cleaners,
    "api_json": api_json,
    "nojs_form": nojs_form,
}
