"""The one user-facing error type.

Library code raises `MmpError` for anything a user can fix (a bad recipe, a missing file, a missing
extra). The CLI edge prints it as one red line with the fix; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mmp.core.redact import mask


class MmpError(Exception):
    """A mistake the user can fix: `message` says what is wrong, `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        # Messages quote user input (a --data-path, a URI): passwords in it are masked here, once.
        message = mask(message)
        hint = mask(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name: safe on any exception
    (some stores raise exceptions with an empty message)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class MissingExtraError(MmpError):
    """An optional dependency is not installed; the hint is the command that adds its extra to
    this installation (a checkout, a local wheel or the package index: `mmp.core.installation`)."""

    def __init__(self, module: str, extra: str) -> None:
        from mmp.core.installation import installation

        super().__init__(
            f"'{module}' is not installed (it comes with mmp's '{extra}' extra)",
            installation().install_extra(extra),
        )
        self.module = module
        self.extra = extra


def import_optional(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or raise a one-line error naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the package is there but one of *its* dependencies is broken: a bug to see
        raise MissingExtraError(top, extra) from exc
