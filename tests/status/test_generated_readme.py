"""A generated project's README tells its users about monitoring, with commands that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mmp.scaffold.project import create_project
from tests.shell_blocks import bash_blocks


def test_readme_monitoring_section_uses_real_commands_and_options(tmp_path: Path) -> None:
    project = create_project("shop", "classification", tmp_path).path
    readme = (project / "README.md").read_text()
    section = readme.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    assert "--profile monitoring" in section and "monitoring/status.yaml" in section
    commands = [c for block in bash_blocks(section) for c in block if c.startswith("uv run mmp ")]
    used = {c.split()[3] for c in commands}
    assert used == {"status", "monitor"}, commands
    for command in commands:
        sub = command.split()[3]
        helped = subprocess.run(
            [sys.executable, "-m", "mmp.cli.main", sub, "--help"], capture_output=True, text=True, timeout=60
        )
        assert helped.returncode == 0, helped.stderr
        for option in re.findall(r"(?<=\s)--[a-z-]+", command.split("#")[0]):
            assert option in helped.stdout, (sub, option)
    # the files it names are generated
    for path in ("monitoring/status.yaml", "monitoring/prometheus.yml", "monitoring/rules"):
        assert (project / path).exists(), path
