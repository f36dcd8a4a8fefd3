"""Progress reporting that library code can use without knowing about terminals.

Pipelines call `progress.step("Fitting", total=...)` and advance it; the CLI passes a Rich-backed
reporter, Python callers get silence by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    """Reports named steps of long work; `total` (rows, items) is known for some steps only."""

    def step(self, description: str, total: int | None = None) -> AbstractContextManager[Advance]: ...


class NullProgress:
    """Reports nothing: the default for library callers."""

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield lambda n: None
