"""docs/lifecycle.md says what the code does: ledger fields and tags, the SQL table, exit codes, the lock.

(The policy reference, docs/promotion-reference.md, is generated from the code and checked in
tests/recipe/test_reference_docs.py.)
"""

from __future__ import annotations

import dataclasses
import re
from typing import get_args

from tests.conftest import REPO

DOC = (REPO / "docs/lifecycle.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def _first_column(section: str, header: str) -> set[str]:
    """The backticked names in the first column of the table whose header row starts with `header`."""
    lines = section[section.index(f"| {header}") :].splitlines()[2:]
    names: set[str] = set()
    for line in lines:
        if not line.startswith("|"):
            break
        names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_the_ledger_table_lists_every_tag_and_field() -> None:
    from mmp.lifecycle.ledger import LEDGER_EXPERIMENT, TAG, Action, LedgerEntry, _tags

    section = _section("The deployment ledger")
    entry = LedgerEntry("m", "a", "promote", "1", "2", True, "d", "t", "someone", "host", reason="r")
    written = {key.removeprefix(TAG) for key in _tags(entry) if key.startswith(TAG)}
    assert _first_column(section, "field") == written
    for field in dataclasses.fields(LedgerEntry):
        assert f"`{field.name}`" in section, field.name
    for action in get_args(Action):
        assert f"`{action}`" in section, action
    assert f"`{LEDGER_EXPERIMENT}`" in section and "`mmp.kind=deployment`" in section


def test_the_sql_table_columns_are_the_mirrors() -> None:
    import sqlalchemy as sa

    from mmp.lifecycle.sql_mirror import TABLE, URL_ENV, _table

    section = _section("The deployment ledger")
    documented: set[str] = set()
    for cell in _first_column(section, "column"):
        documented.update(name.strip() for name in cell.split(","))
    assert documented == {c.name for c in _table(sa.MetaData()).columns}
    assert f"`{TABLE}`" in section and f"`{URL_ENV}`" in section


def test_exit_codes_and_the_lock() -> None:
    from mmp.lifecycle.models import LOCK_WAIT_S, AliasLock
    from mmp.lifecycle.promote import NOT_PROMOTED

    section = _section("The promotion decision")
    assert f"`{NOT_PROMOTED}`\nevaluated and not promoted" in section
    assert f"waits up to {LOCK_WAIT_S:.0f} seconds" in section
    stale_minutes = AliasLock(None, "m", "a").stale_s / 60
    assert f"older than {stale_minutes:.0f} minutes" in section
    assert "mmp-lock.NAME.ALIAS" in section and AliasLock(None, "m", "a").lock_name == "mmp-lock.m.a"
    weekly = _section("The weekly flow")
    assert f"{NOT_PROMOTED} evaluated and not promoted" in weekly
