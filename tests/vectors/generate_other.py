"""Known answers for receipts, fingerprints and signatures: `python -m tests.vectors.generate_other`."""

import json
from pathlib import Path

from crypto import Identity, Receipt, SigningKey

OUT = Path(__file__).parent / "other"


def receipts() -> list[dict]:
    cases = []
    for _ in range(5):
        r = Receipt.generate()
        cases.append({
            "code": r.grouped(),
            "lookup_id": r.lookup_id.hex(),
            "reply_private": r.reply_key.private_bytes().hex(),
            "reply_public": r.reply_recipient.public_bytes.hex(),
        })  # fmt: skip
    return cases


def keys() -> list[dict]:
    cases = []
    for _ in range(3):
        ident = Identity.generate()
        sig = ident.signing_key.sign("reply-bundle", b"a manifest")
        cases.append({
            "x25519_private": ident.decryption_key.private_bytes().hex(),
            "ed25519_seed": ident.signing_key.seed().hex(),
            "public_key_line": ident.public_key.encode(),
            "key_id": ident.public_key.recipient.key_id.hex(),
            "fingerprint": ident.fingerprint,
            "signature": {"context": "reply-bundle", "message": "a manifest", "value": sig.hex()},
        })  # fmt: skip
    server = SigningKey.generate()
    cases.append({"ed25519_seed": server.seed().hex(), "verify_key_line": server.verify_key.encode(),
                  "fingerprint": server.verify_key.fingerprint})  # fmt: skip
    return cases


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "receipts.json").write_text(json.dumps(receipts(), indent=1) + "\n")
    (OUT / "keys.json").write_text(json.dumps(keys(), indent=1) + "\n")
    print(f"wrote {OUT}/receipts.json and keys.json")


if __name__ == "__main__":
    main()
