"""Receipt codes: enough entropy, forgiving to type, every single typo and swap caught."""

import itertools

import pytest

from crypto import Receipt, ReceiptError, seal_bytes, unseal_bytes
from crypto.receipt import ALPHABET, DATA_SYMBOLS, normalize


def test_shape_and_entropy():
    r = Receipt.generate()
    groups = r.grouped().split("-")
    assert [len(g) for g in groups] == [4] * 5
    assert set(r.code) <= set(ALPHABET) and set(ALPHABET) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(ALPHABET) == 32 and DATA_SYMBOLS * 5 >= 80  # random symbols of 5 bits each
    assert len({Receipt.generate().code for _ in range(200)}) == 200


def test_forgiving_reading():
    r = Receipt.generate()
    messy = "  " + r.grouped().lower().replace("-", " ") + "\n"
    assert Receipt(messy).lookup_id == r.lookup_id
    ambiguous = r.code.replace("0", "O").replace("1", "l")
    assert normalize(ambiguous) == r.code


def test_cyrillic_lookalikes_are_read_as_latin():
    latin = Receipt.generate().code
    cyr = latin.translate(str.maketrans({"A": "А", "B": "В", "C": "С", "E": "Е", "K": "К", "M": "М",
                                          "H": "Н", "P": "Р", "T": "Т", "X": "Х", "0": "О"}))  # fmt: skip
    assert normalize(cyr) == latin


def test_every_single_substitution_is_caught():
    code = Receipt.generate().code
    for i, c in itertools.product(range(len(code)), ALPHABET):
        if c != code[i]:
            with pytest.raises(ReceiptError):
                normalize(code[:i] + c + code[i + 1 :])


def test_every_transposition_of_data_symbols_is_caught():
    code = Receipt.generate().code
    for i, j in itertools.combinations(range(18), 2):
        if code[i] != code[j]:
            swapped = list(code)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            with pytest.raises(ReceiptError):
                normalize("".join(swapped))


@pytest.mark.parametrize("bad", ["", "ABC", "Я" * 20, "!" * 20, "0" * 21])
def test_malformed_codes_get_a_clear_error(bad):
    with pytest.raises(ReceiptError) as info:
        Receipt(bad)
    assert str(info.value)


def test_derivations_are_stable_and_separate():
    r = Receipt.generate()
    again = Receipt(r.code)
    assert again.lookup_id == r.lookup_id and again.reply_recipient == r.reply_recipient
    assert r.lookup_id != r.reply_key.private_bytes()
    assert r.code not in repr(r)


def test_replies_sealed_to_the_receipt_open_with_it():
    r = Receipt.generate()
    envelope = seal_bytes("Спасибо, проверяем.".encode(), [r.reply_recipient])
    assert unseal_bytes(envelope, [Receipt(r.grouped()).reply_key]).decode() == "Спасибо, проверяем."


def test_known_answers():
    import json
    from pathlib import Path

    cases = json.loads((Path(__file__).parent / "vectors/other/receipts.json").read_text())
    for case in cases:
        r = Receipt(case["code"])
        assert r.lookup_id.hex() == case["lookup_id"]
        assert r.reply_key.private_bytes().hex() == case["reply_private"]
        assert r.reply_recipient.public_bytes.hex() == case["reply_public"]


def test_random_symbols_are_uniform_and_independent():
    """Receipt codes and case numbers take five random bits a symbol from one read of the system's
    random source: every value turns up about equally often, in every position."""
    from collections import Counter

    from crypto.receipt import random_symbols

    draws = [random_symbols(18) for _ in range(4000)]
    assert all(len(d) == 18 and all(0 <= v < 32 for v in d) for d in draws)
    for position in (0, 7, 17):  # the first, a middle and the last symbol (the top bits of the number)
        counts = Counter(d[position] for d in draws)
        assert set(counts) == set(range(32))
        # 125 expected per value; a chi-square of 90 at 31 degrees of freedom happens by chance ~1e-7.
        assert sum((n - 125) ** 2 / 125 for n in counts.values()) < 90
    assert len({tuple(d) for d in draws}) == 4000
