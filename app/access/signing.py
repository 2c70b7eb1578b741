"""Signed, expiring media URLs (issue 8): an HMAC-SHA256 over the path and the expiry, so a link to
a webcam frame can be put in an <img> or handed to a reviewer's browser without the bearer
token, works only for that path, and stops working at its expiry. A tampered or expired link is
refused with 403."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

_KEY_FILE: Final = "url-signing-key"


class BadSignature(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("expected a URL signing key of at least 32 bytes")
        self._key = key

    def sign(self, path: str, expires_at: int) -> str:
        """`path` with `?expires=<unix seconds>&signature=<hex>`."""
        query = urlencode({"expires": expires_at, "signature": self._mac(path, expires_at)})
        return f"{path}?{query}"

    def check(self, path: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise BadSignature unless `signature` is this path's for `expires`, not yet past."""
        if not expires or not signature:
            raise BadSignature("invalid_signature", "a signed URL needs expires and signature")
        try:
            expires_at = int(expires)
        except ValueError:
            raise BadSignature("invalid_signature", "expires is not a number") from None
        if not hmac.compare_digest(self._mac(path, expires_at), signature):
            raise BadSignature(
                "invalid_signature", "the signature does not match this path and expiry"
            )
        if now >= expires_at:
            raise BadSignature(
                "url_expired", "this link has expired; read the report again for a fresh one"
            )

    def _mac(self, path: str, expires_at: int) -> str:
        message = f"{path}\n{expires_at}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def signing_key(configured: str, storage_dir: Path) -> bytes:
    """`[auth] url_signing_key`, or a random key kept in <storage>/url-signing-key (made once,
    readable by the owner only). Replacing it invalidates every link handed out."""
    if configured:
        return configured.encode()
    path = storage_dir / _KEY_FILE
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    storage_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_text(key.hex() + "\n", encoding="ascii")
    return key
