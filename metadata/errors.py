"""Why a file could not be cleaned."""


class CannotClean(ValueError):
    """We do not understand this file well enough to say that nothing identifying is left in it: a
    structure cut short or out of bounds, a codec whose tags we cannot rewrite, a header too large.
    The file is then refused, unless the reporter explicitly chose to keep the original data."""
