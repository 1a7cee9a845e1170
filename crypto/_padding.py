"""Padding to size buckets (docs/envelope.md, "Padding"): Padmé with a 16 KiB floor, one-and-zeros."""

MIN_PADDED = 16384
MARKER = 0x80


def padme(n: int) -> int:
    """Padmé (Nikitin et al., PETS 2019): round n up so that only O(log log n) bits of it remain."""
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    step = 1 << (e - s)
    return -(-n // step) * step


def padded_length(message_length: int) -> int:
    """Length of P for a message of this many bytes (marker byte included)."""
    return max(MIN_PADDED, padme(message_length + 1))
