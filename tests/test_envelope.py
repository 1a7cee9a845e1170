"""Round trips and tamper-resistance of the envelope, by example and by property (hypothesis)."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import (
    DecryptionKey,
    EnvelopeError,
    HeaderError,
    NoMatch,
    PayloadError,
    recipient_key_ids,
    seal,
    seal_bytes,
    unseal,
    unseal_bytes,
)
from crypto._padding import MIN_PADDED, padded_length, padme
from crypto._stream import BATCH, CHUNK, LARGE_AFTER

ME = DecryptionKey.generate()
OTHERS = [DecryptionKey.generate() for _ in range(3)]


def sizes_around_chunks():
    return [0, 1, 2, 100, MIN_PADDED - 2, MIN_PADDED - 1, MIN_PADDED, CHUNK - 1, CHUNK, CHUNK + 1,
            2 * CHUNK - 1, 2 * CHUNK, 5 * CHUNK + 17,
            # past LARGE_AFTER chunks reads and writes go BATCH chunks at a time, and the last sealed
            # chunk of a full read is carried into the next: sizes around the switch and the batches
            LARGE_AFTER * CHUNK - 1, LARGE_AFTER * CHUNK, LARGE_AFTER * CHUNK + 1,
            (LARGE_AFTER + 1) * CHUNK, (LARGE_AFTER + BATCH - 1) * CHUNK, (LARGE_AFTER + BATCH) * CHUNK - 1,
            (LARGE_AFTER + BATCH) * CHUNK, (LARGE_AFTER + BATCH) * CHUNK + 1,
            (LARGE_AFTER + 3 * BATCH) * CHUNK + CHUNK // 2]  # fmt: skip


@pytest.mark.parametrize("size", sizes_around_chunks())
def test_round_trip_at_chunk_and_bucket_edges(size):
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    envelope = seal_bytes(data, [ME.recipient])
    assert unseal_bytes(envelope, [ME]) == data


def test_every_recipient_opens_and_others_do_not():
    recipients = [k.recipient for k in [*OTHERS, ME]]
    envelope = seal_bytes(b"report", recipients)
    for key in [*OTHERS, ME]:
        assert unseal_bytes(envelope, [key]) == b"report"
    with pytest.raises(NoMatch):
        unseal_bytes(envelope, [DecryptionKey.generate()])
    assert recipient_key_ids(io.BytesIO(envelope)) == [r.key_id for r in recipients]


def test_same_plaintext_seals_differently_each_time():
    assert seal_bytes(b"same", [ME.recipient]) != seal_bytes(b"same", [ME.recipient])


def test_size_leaks_only_the_bucket():
    short, long = seal_bytes(b"a", [ME.recipient]), seal_bytes(b"a" * 16000, [ME.recipient])
    assert len(short) == len(long)
    assert padme(300_000) == padme(299_999)  # within one bucket
    assert padded_length(256 << 20) - (256 << 20) < 0.04 * (256 << 20)


def test_recipient_count_is_bounded():
    with pytest.raises(ValueError):
        seal_bytes(b"x", [])
    with pytest.raises(ValueError):
        seal_bytes(b"x", [ME.recipient] * 33)


def test_streaming_seal_reads_a_pipe_without_knowing_its_length():
    data = bytes(range(256)) * 1000
    out = io.BytesIO()
    seal(io.BufferedReader(io.BytesIO(data), 1000), out, [ME.recipient])
    plain = io.BytesIO()
    assert unseal(io.BytesIO(out.getvalue()), plain, [ME]) == len(data)
    assert plain.getvalue() == data


def test_nothing_is_written_before_the_header_mac_verifies():
    envelope = bytearray(seal_bytes(b"secret text", [ME.recipient, OTHERS[0].recipient]))
    envelope[60] ^= 1  # inside the other recipient's stanza
    out = io.BytesIO()
    with pytest.raises(EnvelopeError):
        unseal(io.BytesIO(bytes(envelope)), out, [ME])
    assert out.getvalue() == b""


def test_header_error_names_the_problem():
    with pytest.raises(HeaderError, match="not a sealdrop envelope"):
        unseal_bytes(b"PK\x03\x04 a zip file", [ME])


# --- properties -------------------------------------------------------------------------------

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=3 * CHUNK + 10))
def test_any_size_round_trips(data):
    assert unseal_bytes(seal_bytes(data, [ME.recipient]), [ME]) == data


SMALL = seal_bytes(b"a short report about a corner", [ME.recipient])
MULTI = seal_bytes(bytes(range(256)) * 700, [ME.recipient, OTHERS[0].recipient])  # 3 chunks


@FAST
@given(st.sampled_from([SMALL, MULTI]), st.data())
def test_any_changed_byte_is_refused(envelope, data):
    i = data.draw(st.integers(0, len(envelope) - 1))
    delta = data.draw(st.integers(1, 255))
    changed = bytearray(envelope)
    changed[i] ^= delta
    with pytest.raises(EnvelopeError):
        unseal_bytes(bytes(changed), [ME])


@FAST
@given(st.sampled_from([SMALL, MULTI]), st.data())
def test_any_removed_byte_is_refused(envelope, data):
    i = data.draw(st.integers(0, len(envelope) - 1))
    with pytest.raises(EnvelopeError):
        unseal_bytes(envelope[:i] + envelope[i + 1 :], [ME])


@FAST
@given(st.sampled_from([SMALL, MULTI]), st.data(), st.integers(0, 255))
def test_any_added_byte_is_refused(envelope, data, value):
    i = data.draw(st.integers(0, len(envelope)))
    with pytest.raises(EnvelopeError):
        unseal_bytes(envelope[:i] + bytes([value]) + envelope[i:], [ME])


@FAST
@given(st.sampled_from([SMALL, MULTI]), st.data())
def test_any_truncation_is_refused(envelope, data):
    cut = data.draw(st.integers(0, len(envelope) - 1))
    with pytest.raises(EnvelopeError):
        unseal_bytes(envelope[:cut], [ME])


def test_payload_failure_leaves_only_a_true_prefix():
    data = bytes(range(256)) * 1000
    envelope = bytearray(seal_bytes(data, [ME.recipient]))
    envelope[-40] ^= 1  # in the last chunk
    out = io.BytesIO()
    with pytest.raises(PayloadError):
        unseal(io.BytesIO(bytes(envelope)), out, [ME])
    assert data.startswith(out.getvalue())


class StingyWriter(io.RawIOBase):
    """A raw destination that takes at most 1000 bytes per write, as a pipe may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        taken = bytes(b[:1000])
        self.data += taken
        return len(taken)


def test_short_writes_lose_nothing():
    data = bytes(range(256)) * 2000
    sealed = StingyWriter()
    seal(io.BytesIO(data), sealed, [ME.recipient])
    opened = StingyWriter()
    unseal(io.BytesIO(bytes(sealed.data)), opened, [ME])
    assert bytes(opened.data) == data


class FailingWriter(io.RawIOBase):
    """A destination that fails after `limit` bytes, like a full disk."""

    def __init__(self, limit: int) -> None:
        self.limit, self.taken = limit, 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if self.taken + len(b) > self.limit:
            raise OSError(28, "No space left on device")
        self.taken += len(b)
        return len(b)


@pytest.mark.parametrize("limit", [0, 100, 3 * CHUNK, (LARGE_AFTER + 2 * BATCH) * CHUNK])
def test_a_failing_destination_raises_its_error_in_both_directions(limit):
    """The last limit fails on the writer thread of a large envelope: its error still arrives."""
    data = bytes(range(256)) * ((LARGE_AFTER + 5 * BATCH) * CHUNK // 256)
    with pytest.raises(OSError, match="No space"):
        seal(io.BytesIO(data), FailingWriter(limit), [ME.recipient])
    envelope = seal_bytes(data, [ME.recipient])
    with pytest.raises(OSError, match="No space"):
        unseal(io.BytesIO(envelope), FailingWriter(limit), [ME])
