"""docs/cli-reference.md is generated from the commands' --help and must be current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_cli_reference_is_current(tmp_path: Path) -> None:
    beside_python = Path(sys.executable).parent / "typer"
    typer_cli = str(beside_python) if beside_python.exists() else shutil.which("typer")
    assert typer_cli, "the typer command comes with typer; run the tests through `uv run`"
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            typer_cli,
            "mmp.cli.main",
            "utils",
            "docs",
            "--name",
            "mmp",
            "--title",
            "mmp CLI reference",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    committed = (REPO / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert committed == out.read_text(encoding="utf-8"), (
        "docs/cli-reference.md is stale: run scripts/gen_docs"
    )
