"""Mask secrets in any text shown to a user or written to a log: the one masking function.

Errors (`MmpError`), progress lines, logged parameters and artifacts all pass through `mask`, so a
password given in `--data-path`, a config URI or any other argument never leaves the process.
"""

from __future__ import annotations

import re

REDACTED = "***"
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<at>@)")
# password=... in a query string or a libpq/ODBC connection string (`host=db password=s3cret`)
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*=\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s&;'\"]+)",
    re.I,
)


def mask(text: str) -> str:
    """`text` with every URL password and `password=...` value replaced by `***`."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}{m['at']}", text)
    return _KEY_VALUE.sub(lambda m: f"{m['head']}{REDACTED}", text)
