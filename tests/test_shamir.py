"""Shamir shares over GF(256) (crypto/shamir.py): known answers both ways, any k of n rebuild the secret,
fewer are refused, shares of different secrets never mix, and a typo is caught and its line named.

The vectors in tests/vectors/other/shamir.json come from `vectors()` below, whose randomness is a hash chain:
`python -m tests.test_shamir` writes them again (only when the format changes on purpose)."""

import hashlib
import itertools
import json
import random
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crypto import shamir
from crypto.shamir import Share, ShareError

VECTORS = Path(__file__).parent / "vectors" / "other" / "shamir.json"


def chain(seed: bytes):
    """A deterministic stand-in for os.urandom: SHA-256 in counter mode over `seed`."""
    counter = itertools.count()

    def take(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return take


CASES = [  # (secret, count, threshold)
    (bytes(range(1, 33)), 3, 2),
    (hashlib.sha256(b"an escrow key").digest() * 2, 5, 3),
    (b"\x00" * 16, 4, 4),
    (b"\xff" * 64, 255, 2),
]


def vectors() -> list[dict]:
    out = []
    for n, (secret, count, threshold) in enumerate(CASES):
        shares = shamir.split(secret, count, threshold, random=chain(b"shamir vector %d" % n))
        out.append(
            {
                "secret": secret.hex(),
                "count": count,
                "threshold": threshold,
                "random_seed": f"shamir vector {n}",
                "shares": [s.to_text() for s in shares[:6]],  # the first few (255 are many)
            }
        )
    return out


def test_known_answers_split_to_the_stored_texts():
    assert vectors() == json.loads(VECTORS.read_text())


@pytest.mark.parametrize(
    "case", json.loads(VECTORS.read_text()), ids=lambda c: f"{c['threshold']}-of-{c['count']}"
)
def test_known_answers_combine_to_the_stored_secret(case):
    shares = [Share.parse(t) for t in case["shares"]]
    k = case["threshold"]
    for chosen in itertools.combinations(shares, k):
        assert shamir.combine(list(chosen)).hex() == case["secret"]
    assert all(s.to_text() == t for s, t in zip(shares, case["shares"], strict=True))  # parse, print: same


def test_a_known_share_text_reads_as_documented():
    text = json.loads(VECTORS.read_text())[1]["shares"][1]
    head, *lines = text.splitlines()
    assert head.startswith("SEALDROP-SHARE-1 ID ") and " SHARE 2 OF 5 NEED 3 CHECK " in head
    assert len(lines) == 5 and all(line.split()[-2] == "CHECK" for line in lines)
    assert lines[0].split()[1:7] == [g for g in lines[0].split()[1:7] if len(g) == 4]


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=80),
    count=st.integers(2, 12),
    data=st.data(),
)
def test_any_k_of_n_shares_rebuild_the_secret(secret, count, data):
    threshold = data.draw(st.integers(2, count))
    shares = shamir.split(secret, count, threshold)
    chosen = data.draw(st.permutations(shares)).copy()[: data.draw(st.integers(threshold, count))]
    assert shamir.combine(chosen) == secret
    typed = [Share.parse(s.to_text()) for s in chosen]  # through paper and back
    assert shamir.combine(typed) == secret
    with pytest.raises(ShareError) as e:
        shamir.combine(chosen[: threshold - 1])
    assert e.value.kind == "too_few" and (e.value.needed, e.value.given) == (threshold, threshold - 1)


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=16, max_size=64), seed=st.integers(0, 2**32))
def test_a_typo_anywhere_is_caught_and_its_line_named(secret, seed):
    share = shamir.split(secret, 3, 2)[0]
    lines = share.to_text().splitlines()
    rnd = random.Random(seed)
    n = rnd.randrange(len(lines))
    line = lines[n]
    positions = [
        i for i, c in enumerate(line) if c in shamir.ALPHABET and (n > 0 or i > len("SEALDROP-SHARE-1 "))
    ]
    i = rnd.choice(positions)
    wrong = rnd.choice([c for c in shamir.ALPHABET if c != line[i]])
    lines[n] = line[:i] + wrong + line[i + 1 :]
    with pytest.raises(ShareError) as e:
        Share.parse("\n".join(lines))
    assert e.value.line == n + 1, (line, lines[n])


def test_typed_back_loosely_it_still_reads():
    share = shamir.split(bytes(range(64)), 5, 3)[3]
    head, *lines = share.to_text().splitlines()
    typed = ["", "# my notes", "  ".join(head.lower().split())]
    for line in lines:
        number, *groups, check_word, check = line.split()
        groups = [g.lower().replace("o", "0").replace("i", "1").replace("b", "8") for g in groups]
        typed.append(f"{number}.  {' '.join(groups)}   {check_word.lower()} {check.lower()}  ")
    assert Share.parse("\n".join(typed)) == share
    # The groups may be run together or split otherwise.
    first = lines[0].split()
    lines[0] = "1 " + "".join(first[1:-2]) + " CHECK " + first[-1]
    assert Share.parse("\n".join([head, *lines])) == share


@settings(max_examples=40, deadline=None)
@given(a=st.binary(min_size=16, max_size=64), b=st.binary(min_size=16, max_size=64), data=st.data())
def test_any_mix_of_two_secrets_shares_is_refused(a, b, data):
    assume(a != b)
    count = data.draw(st.integers(3, 8))
    threshold = data.draw(st.integers(2, count - 1))
    ours, theirs = shamir.split(a, count, threshold), shamir.split(b, count, threshold)
    mixed = data.draw(st.permutations(ours[: threshold - 1] + theirs[threshold - 1 : threshold]))
    with pytest.raises(ShareError) as e:
        shamir.combine(mixed)
    assert e.value.kind == "mixed"


def test_shares_of_two_secrets_never_mix():
    a = shamir.split(b"A" * 64, 5, 3)
    b = shamir.split(b"B" * 64, 5, 3)
    with pytest.raises(ShareError) as e:
        shamir.combine([a[0], a[1], b[2]])
    assert e.value.kind == "mixed"


def test_a_share_that_passes_its_checks_but_is_wrong_is_caught_by_the_id():
    shares = shamir.split(b"S" * 64, 5, 3)
    wrong = Share(shares[2].secret_id, shares[2].index, 3, 5, bytes(64))
    with pytest.raises(ShareError) as e:
        shamir.combine([shares[0], shares[1], wrong])
    assert e.value.kind == "mismatch"


def test_the_same_share_twice_counts_once_and_two_different_ones_conflict():
    shares = shamir.split(b"S" * 32, 5, 3)
    with pytest.raises(ShareError) as e:
        shamir.combine([shares[0], shares[0], shares[1]])
    assert e.value.kind == "too_few"
    other = Share(shares[1].secret_id, 1, 3, 5, shares[1].data)
    with pytest.raises(ShareError) as e:
        shamir.combine([shares[0], other, shares[2]])
    assert e.value.kind == "conflict"


@pytest.mark.parametrize("count, threshold", [(1, 1), (3, 1), (3, 4), (256, 2), (5, 0)])
def test_impossible_splits_are_refused(count, threshold):
    with pytest.raises(ValueError):
        shamir.split(b"secret", count, threshold)


def test_a_line_left_out_or_a_strange_text_is_named():
    lines = shamir.split(bytes(64), 3, 2)[0].to_text().splitlines()
    with pytest.raises(ShareError) as e:
        Share.parse("\n".join(lines[:2] + lines[3:]))
    assert e.value.kind == "missing_line" and e.value.line == 3
    with pytest.raises(ShareError) as e:
        Share.parse("\n".join(lines[:-1]))  # the last line left out
    assert e.value.kind == "missing_line" and e.value.line == len(lines)
    with pytest.raises(ShareError) as e:
        Share.parse("hello")
    assert e.value.kind == "format"
    with pytest.raises(ShareError) as e:
        Share.parse(lines[0].replace("SHARE-1", "SHARE-2"))
    assert e.value.kind == "version"


def test_the_field_and_a_share_worked_by_hand():
    # FIPS-197's worked products in the AES field, and k=2 by hand: share x is secret + a·x per byte.
    assert shamir._mul(0x57, 0x83) == 0xC1 and shamir._mul(0x57, 0x13) == 0xFE
    assert all(shamir._mul(a, shamir._div(1, a)) == 1 for a in range(1, 256))
    secret = bytes(range(1, 33))
    a = chain(b"shamir vector 0")(32)
    shares = [Share.parse(t) for t in json.loads(VECTORS.read_text())[0]["shares"]]
    assert shares[0].data == bytes(s ^ c for s, c in zip(secret, a, strict=True))
    assert shares[1].data == bytes(s ^ shamir._mul(c, 2) for s, c in zip(secret, a, strict=True))


if __name__ == "__main__":
    VECTORS.write_text(json.dumps(vectors(), indent=1) + "\n")


def test_typed_with_a_cyrillic_layout_it_still_reads():
    """A holder in Sofia, Moscow or Almaty may type the Latin-looking letters on a Cyrillic layout."""
    secret = bytes(range(64))
    for share in shamir.split(secret, 3, 2):
        text = share.to_text()
        typed = text.translate(str.maketrans("ABEKMHOPCTXYI3", "АВЕКМНОРСТХУІЗ")).lower()
        assert typed != text.lower()
        assert Share.parse(typed) == share
