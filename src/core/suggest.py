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
