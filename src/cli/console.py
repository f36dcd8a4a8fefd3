"""Terminal output for the CLI: one place for colours, progress bars and result tables.

Rich is imported lazily so `mmp --help` stays instant.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from mmp.core.progress import Advance


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_error(message: str, hint: str | None = None) -> None:
    """A user error: red on stderr, each line of the message, then the fix."""
    console = stderr_console()
    lines = message.splitlines() or [message]
    for line in lines:
        console.print(f"[bold red]Error:[/] {_escape(line)}")
    if hint:
        console.print(f"[dim]Fix:[/] {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    from mmp.core.redact import mask

    return escape(mask(text))


class RichProgress:
    """Progress for library steps: a live bar on terminals, one finished line per step everywhere."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = stderr_console()
        self.quiet = quiet

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        from mmp.core.redact import mask

        description = mask(description)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self.quiet:
            yield lambda n: None
            return
        started = time.perf_counter()
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
            ]
        else:  # unknown total (CSV, SQL): still show rows so far and rows/s once rows flow
            columns.append(TextColumn("{task.fields[rate]}"))
        columns.append(TimeElapsedColumn())
        done = 0
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total, rate="")

            def advance(n: int) -> None:
                nonlocal done
                done += n
                elapsed = max(time.perf_counter() - started, 1e-9)
                rate = f"{done / elapsed:,.0f}/s"
                bar.update(task, advance=n, rate=rate if total is not None else f"{done:,} rows, {rate}")

            yield advance
        elapsed = time.perf_counter() - started
        count = f" {done:,} rows," if total is not None or done else ""
        self.console.print(f"[green]✓[/] {description}{count} {elapsed:.1f}s")


def print_json(payload: Any) -> None:
    import json

    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    stdout_console().print(table)


def print_grid(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A table with a header row (comparisons, histories)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)
