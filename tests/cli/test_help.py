"""`--help` in a default terminal (80 columns, or any pipe): every option name whole, flags as flags."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer.main

from mmp.cli.main import app
from tests.conftest import REPO

COMMAND = typer.main.get_command(app)  # Typer's own Click: duck-typed below
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]


def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "mmp.cli.main", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["", *NAMES])
def test_help_fits_80_columns_with_every_option_name_whole(name: str) -> None:
    text = _help(*([name] if name else []))
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    assert "…" not in text, "nothing is cut with an ellipsis"
    command = COMMAND.commands[name] if name else COMMAND  # type: ignore[attr-defined]
    for param in command.params:
        for option in [*param.opts, *param.secondary_opts]:
            if option.startswith("-"):
                assert option in text, f"{option} is not shown whole"
        if param.param_type_name == "option" and param.envvar:
            assert str(param.envvar) in text, f"{param.envvar} is not shown whole"


@pytest.mark.parametrize("name", NAMES)
def test_boolean_flags_take_no_value(name: str) -> None:
    text = _help(name)
    assert "<bool>" not in text
    params = COMMAND.commands[name].params  # type: ignore[attr-defined]
    flags = [p for p in params if p.param_type_name == "option" and p.is_flag]
    assert flags or name not in ("train", "serve-api"), "these commands have flags to check"
    for flag in flags:
        assert f"{flag.opts[-1]} <" not in text, f"{flag.opts[-1]} is shown as taking a value"


def test_cli_reference_is_plain_markdown() -> None:
    text = (REPO / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    for entity in ("&#x27;", "&lt;", "&gt;", "&quot;", "&amp;", "<span", "<bool>"):
        assert entity not in text, entity
