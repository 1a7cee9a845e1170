"""What libraries said while the process served, counted instead of written out (dropbox.silence_libraries):
by logger (or warning class) and level, never a line on stderr, which journald would time-stamp to the
second of a no-JS report's arrival. Process-wide, as the logging and warnings machinery it replaces is.
The operator reads the counts in `sealdrop budgets` and on the desk admin page (dropbox/budget.py)."""

from __future__ import annotations

from collections import Counter

LIBRARY_NOISE: Counter[tuple[str, str]] = Counter()


def noise_counts() -> list[dict]:
    """The counts so far, most frequent first: {"source", "level", "count"} each."""
    return [
        {"source": source, "level": level, "count": count}
        for (source, level), count in sorted(LIBRARY_NOISE.items(), key=lambda item: (-item[1], item[0]))
    ]
