"""Receipt codes in the browser (envelope.mjs) agree with crypto/receipt.py, symbol for symbol."""

import base64
import json
import random
from pathlib import Path

import pytest

from crypto import Receipt, ReceiptError, seal_bytes
from crypto.receipt import ALPHABET

pytestmark = pytest.mark.browser

# Python's str.isspace() characters, and a few that only one side might call space or a letter.
PY_SPACES = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
ODD = "\ufeff\u200b\u00ad\u0131\u017f\u00df\ufb00\u212a\u0130\u2010\u2212ОоIlLiАаВвЕеКкМмНнРрСсТтХхЗзУуЅѕ"


def python_outcome(text: str) -> dict:
    try:
        return {"ok": True, "code": Receipt(text).code}
    except ReceiptError as e:
        return {"ok": False, "name": "ReceiptError", "message": str(e)}


def js_outcomes(page, texts: list[str]) -> list[dict]:
    got = page.evaluate("(texts) => t.normalize(texts)", texts)
    return [{k: v for k, v in g.items() if k != "isEnvelopeError"} for g in got]


def variants(code: str, rng: random.Random) -> list[str]:
    """Ways a reporter might type `code`, right and wrong."""
    grouped = "-".join(code[i : i + 4] for i in range(0, 20, 4))
    out = [code, code.lower(), grouped, grouped.replace("-", " "), grouped.replace("-", "–"),
           " " + grouped.lower() + "\n", code.replace("0", "O").replace("1", "l"),
           code.replace("0", "о").replace("1", "I"),  # a Cyrillic small o
           code.translate(str.maketrans("ABEKMHPCTX3", "АВЕКМНРСТХЗ")),  # Cyrillic capitals
           code.translate(str.maketrans("ABEKMHPCTX3", "авекмнрстхз")),  # and small ones
           code[:19], code + "0", code[:10] + code[11:], code[:5] + "U" + code[6:]]  # fmt: skip
    for i in range(20):
        wrong = rng.choice([c for c in ALPHABET if c != code[i]])
        out.append(code[:i] + wrong + code[i + 1 :])  # one wrong symbol
    for i in range(19):
        out.append(code[:i] + code[i + 1] + code[i] + code[i + 2 :])  # two neighbours swapped
    for _ in range(20):
        i = rng.randrange(21)
        out.append(code[:i] + rng.choice(PY_SPACES + ODD + "-–—_.,") + code[i:])  # one odd character
    return out


def test_normalization_agrees(page):
    rng = random.Random(1021)
    texts = [t for _ in range(15) for t in variants(Receipt.generate().code, rng)]
    texts += ["", "   ", "-", "ß" * 10, "\ufeff" + Receipt.generate().code]
    want = [python_outcome(t) for t in texts]
    got = js_outcomes(page, texts)
    for text, w, g in zip(texts, want, got):
        assert g == w, repr(text)
    assert sum(w["ok"] for w in want) > 100  # the accepting paths were exercised too


def test_keys_agree_with_python(page):
    for _ in range(10):
        receipt = Receipt.generate()
        got = page.evaluate("(code) => t.receipt(code)", receipt.grouped().lower())
        assert got["ok"], got
        assert got["code"] == receipt.code
        assert got["lookupId"] == receipt.lookup_id.hex()
        assert got["replyPublicKey"] == receipt.reply_recipient.public_bytes.hex()
        assert got["replyPrivateKey"] == receipt.reply_key.private_bytes().hex()


def test_bad_receipt_is_a_receipt_error(page):
    code = Receipt.generate().code
    typo = code[:3] + ("A" if code[3] != "A" else "B") + code[4:]
    got = page.evaluate("(code) => t.receipt(code)", typo)
    assert got["name"] == "ReceiptError"
    assert got["message"] == "this receipt code has a typo (its check does not match)"


def test_browser_codes_are_valid_for_python(page):
    codes = page.evaluate(
        "() => Array.from({length: 200}, () => [envelope.generateReceipt(), null])"
        ".map(([c]) => [c, envelope.groupReceipt(c)])"
    )
    assert len({c for c, _ in codes}) == 200
    for code, grouped in codes:
        receipt = Receipt(code)
        assert receipt.code == code
        assert receipt.grouped() == grouped
    assert {ch for c, _ in codes for ch in c[:18]} == set(ALPHABET)  # every symbol turns up


def test_reply_sealed_in_python_opens_with_receipt(page):
    receipt = Receipt.generate()
    reply = b"Thank you. An officer went there on Tuesday."
    envelope = seal_bytes(reply, [receipt.reply_recipient])
    got = page.evaluate(
        """async ([code, env]) => {
            const keys = await envelope.receiptKeys(code);
            return t.toB64(await envelope.open(t.fromB64(env), [keys.replyPrivateKey]));
        }""",
        [receipt.grouped(), base64.b64encode(envelope).decode()],
    )
    assert base64.b64decode(got) == reply


def test_receipt_known_answers(page):
    """tests/vectors/other/receipts.json (docs/keys.md, "Receipts") through the browser."""
    cases = json.loads((Path(__file__).parents[1] / "vectors" / "other" / "receipts.json").read_text())
    assert cases
    for case in cases:
        got = page.evaluate("(code) => t.receipt(code)", case["code"])
        assert got["ok"], got
        assert got["code"] == case["code"].replace("-", "")
        assert got["lookupId"] == case["lookup_id"]
        assert got["replyPrivateKey"] == case["reply_private"]
        assert got["replyPublicKey"] == case["reply_public"]
