"""How the running mmp was installed, and so how to add an extra or ship it to a new project.

mmp-toolkit may come from a source checkout (`uv sync`, `pip install -e .`), from a wheel file
or folder (`pip install dist/mmp_toolkit-....whl`, recorded in PEP 610 `direct_url.json`) or from a package
index. Install hints ("Fix: ...") and `mmp init` (which puts a wheel in the new project's wheels/)
both decide from this one place.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

DISTRIBUTION = "mmp-toolkit"


@dataclass(frozen=True)
class Installation:
    """`kind` says where mmp came from: a source tree it runs from ("checkout"), a copy installed
    from a local wheel file or source folder ("local", `path` is that file or folder), or an index.
    """

    kind: Literal["checkout", "local", "index"]
    path: Path | None = None
    installer: str = ""  # "uv", "pip", ... (the dist-info INSTALLER file), "" when unknown

    def install_extra(self, extra: str) -> str:
        """The one command that adds `extra` to this installation."""
        if self.kind == "checkout":
            where = "" if self.path is None or self.path == Path.cwd() else f" in {self.path}"
            return f"uv sync --extra {extra} (or pip install -e '.[{extra}]'){where}"
        if self.kind == "local" and self.path is not None and self.path.exists():
            return f"pip install {shlex.quote(f'{self.path}[{extra}]')}"
        if self.installer == "uv":
            # A uv project (e.g. one made by `mmp init`, with mmp's wheel in wheels/).
            return f"uv add 'mmp-toolkit[{extra}]' (or pip install 'mmp-toolkit[{extra}]')"
        return f"pip install 'mmp-toolkit[{extra}]'"

    @property
    def from_index(self) -> bool:
        return self.kind == "index"


@cache
def installation() -> Installation:
    """Where the running mmp came from (computed once per process)."""
    import mmp

    package = Path(mmp.__file__).resolve().parent
    if package.parent.name not in ("site-packages", "dist-packages"):
        # Imported from a source tree (editable install, PYTHONPATH): src/ sits beside pyproject.toml.
        for candidate in (package.parent, package.parent.parent):
            if (candidate / "pyproject.toml").is_file():
                return Installation("checkout", candidate, _installer())
        return Installation("checkout", None, _installer())
    direct = _direct_url()
    if direct is not None:
        parsed = urlparse(direct)
        if parsed.scheme == "file":
            return Installation("local", Path(unquote(parsed.path)), _installer())
    return Installation("index", None, _installer())


def _direct_url() -> str | None:
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    data = json.loads(text)
    return str(data.get("url", ""))


def _installer() -> str:
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("INSTALLER")
    except metadata.PackageNotFoundError:
        return ""
    return (text or "").strip()
