"""Load YAML files with `${VAR}` / `${VAR:default}` substitution, and keep a redacted twin.

The resolved tree feeds the typed models; the redacted tree is what may be printed or written as an
artifact: every substituted value keeps its `${...}` expression, secret-looking keys are masked and
passwords inside URLs are replaced, so a secret never leaves the process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mmp.core.errors import MmpError, first_line
from mmp.core.redact import REDACTED, mask

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?keys?|credential|private[_-]?key)$", re.I)


@dataclass(frozen=True)
class LoadedYaml:
    """A parsed YAML document: `data` for use, `redacted` for logs and snapshots."""

    path: Path
    data: Any
    redacted: Any


def redact_url(text: str) -> str:
    """Hide every password inside a string (`mmp.core.redact.mask`, the one masking function)."""
    return mask(text)


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of a YAML-like tree with secret-looking keys masked and URL passwords hidden."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


def substitute(value: Any, source: str, loc: tuple[str | int, ...] = ()) -> Any:
    """Replace `${VAR}` and `${VAR:default}` in every string of a tree with the environment's value.

    A string that is exactly one `${...}` expression is re-read as a YAML scalar, so
    `${PORT:8000}` becomes the integer 8000 and `${DEBUG:false}` a boolean.
    """
    if isinstance(value, Mapping):
        return {k: substitute(v, source, (*loc, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, source, (*loc, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def lookup(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        where = ".".join(str(p) for p in loc) + ": " if loc else ""
        raise MmpError(
            f"{source}: {where}environment variable {name} is not set",
            f"export {name}=... or give a default: ${{{name}:value}}",
        )

    whole = _VAR.fullmatch(value)
    resolved = _VAR.sub(lookup, value)
    if whole:
        try:
            return yaml.safe_load(resolved) if resolved.strip() else resolved
        except yaml.YAMLError:
            return resolved
    return resolved


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text into Python values, turning syntax errors into one located line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise MmpError(f"{source}{where}: invalid YAML: {problem}", "fix the YAML syntax") from None


def load_yaml(path: str | Path, *, what: str = "file") -> LoadedYaml:
    """Read a YAML mapping from disk with substitution; a missing file is a clear error, never a fallback."""
    file = Path(path)
    if not file.is_file():
        raise MmpError(f"{what} not found: {file}", f"check the path (looked in {file.resolve().parent})")
    raw = parse_yaml(file.read_text(encoding="utf-8"), str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise MmpError(f"{path}: a {what} must be a YAML mapping, got {type(raw).__name__}")
    return LoadedYaml(path=file, data=substitute(raw, str(path)), redacted=redact(raw))
