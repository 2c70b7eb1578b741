"""The signature of a delivery: HMAC-SHA256 over "<unix seconds>.<body>", in the header
`Vigil-Signature: t=<unix seconds>,v1=<hex>`. A receiver recomputes it with the shared secret,
compares in constant time, and refuses a timestamp too far from its clock (replays):

    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) < 300
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "Vigil-Signature"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes) -> bool:
    """What a receiver does (and the tests): True when `header` signs `body` with `secret`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(parts["t"]), body), header)
