"""HMAC-SHA256 signatures over a timestamp and the request body, both ways.

The sender puts ``X-Lianqin-Timestamp: <unix seconds>`` and
``X-Lianqin-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body bytes>")>``
on the request; the receiver recomputes it over the raw body and refuses a stale timestamp,
which stops replays of an old captured request."""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Lianqin-Timestamp"
SIGNATURE_HEADER = "X-Lianqin-Signature"
# A request older (or newer) than this is refused: clocks of the two sides may differ a little.
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that authenticate ``body``."""
    ts = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(secret, ts, body)}


class SignatureError(ValueError):
    """The request is not signed with the shared secret, or is too old."""


def verify(secret: str, body: bytes, timestamp: str | None, sig: str | None, *,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:
    """Raise SignatureError unless ``sig`` signs ``body`` at a recent ``timestamp``."""
    if not timestamp or not sig:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a unix time") from None
    if age > tolerance_s:
        raise SignatureError(f"timestamp is {age:.0f}s off (tolerance {tolerance_s:.0f}s)")
    if not hmac.compare_digest(signature(secret, timestamp, body), sig):
        raise SignatureError("signature does not match the body")
