"""Optional API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in constant time.

Keys come from an environment variable (MMP_API_KEYS by default), never from a file or the command
line, and are never logged. Without keys the API is open.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

OPEN_PATHS = frozenset({"/health", "/ready"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


class ApiKeys:
    """The accepted keys, held only as SHA-256 digests."""

    def __init__(self, keys: Iterable[str], docs_public: bool = True) -> None:
        self._digests = tuple(_digest(k) for k in keys if k)
        self.open_paths = OPEN_PATHS | DOCS_PATHS if docs_public else OPEN_PATHS

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def needed(self, path: str) -> bool:
        return self.enabled and path not in self.open_paths

    def allows(self, headers: dict[bytes, bytes]) -> bool:
        """True if a header carries a valid key. Every stored key is compared, so the time taken does
        not depend on which key (if any) matched."""
        offered = _offered(headers)
        if offered is None:
            return False
        digest = _digest(offered)
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def _digest(key: str) -> bytes:
    # Comparing fixed-length digests keeps compare_digest's time independent of the key's length.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def _offered(headers: dict[bytes, bytes]) -> str | None:
    api_key = headers.get(b"x-api-key")
    if api_key:
        return api_key.decode("latin-1").strip()
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None
