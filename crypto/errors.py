"""Every error the crypto package raises, one class per kind of failure.

The envelope kinds match the `expect` values of the test vectors (docs/envelope.md, "Errors").
Messages are written for the person at the terminal: one line, what went wrong, no secrets.
"""


class SealdropCryptoError(Exception):
    """Base of every error raised by `crypto`."""


class EnvelopeError(SealdropCryptoError):
    """An envelope could not be opened."""

    expect = "error"


class UnsupportedVersion(EnvelopeError):
    expect = "unsupported version"


class HeaderError(EnvelopeError):
    expect = "header failure"


class NoMatch(EnvelopeError):
    expect = "no match"


class HeaderMACError(EnvelopeError):
    expect = "HMAC failure"


class PayloadError(EnvelopeError):
    expect = "payload failure"


class KeyFormatError(SealdropCryptoError):
    """A key file or key string is malformed."""


class WrongPassphrase(SealdropCryptoError):
    """The passphrase does not unlock this identity (or the file was altered)."""


class BadSignature(SealdropCryptoError):
    """A signature does not verify under the expected key."""


class ReceiptError(SealdropCryptoError):
    """A receipt code is malformed or fails its check (a typo)."""
