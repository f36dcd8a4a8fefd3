"""'Did you mean' suggestions for misspelled keys, column names and choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid choice to a misspelled word, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix, or an empty string when nothing is close."""
    match = closest(word, choices)
    return f" (did you mean '{match}'?)" if match else ""


def some_of(names: Iterable[str], limit: int = 30) -> str:
    """Up to `limit` names, comma-separated, saying how many more there are when cut:
    `a, b, c and 47 more (50 in all)`."""
    every = [str(n) for n in names]
    if len(every) <= limit:
        return ", ".join(every)
    return f"{', '.join(every[:limit])} and {len(every) - limit} more ({len(every)} in all)"
