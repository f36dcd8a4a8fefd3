"""The shell commands of a Markdown file's ```bash blocks, as a reader would type them.

Tests run README examples verbatim with this: each block is a list of commands, a trailing `\\`
joins the next line, and comment-only lines are dropped (a `# ...` after a command stays, bash
ignores it).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def bash_blocks(markdown: str) -> list[list[str]]:
    blocks = []
    for match in _FENCE.finditer(markdown):
        commands: list[str] = []
        pending = ""
        for line in match[1].splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1].rstrip() + " "
                continue
            commands.append(pending + line.strip() if pending else line.strip())
            pending = ""
        blocks.append(commands)
    return blocks
