"""Keep camera credentials out of logs, API answers, events and error messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_MASK = "***"
# user:password@ inside any URL-looking text, e.g. rtsp://admin:12345@10.0.0.5:554/...
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]*)@")
# query-string secrets some NVRs and platforms use (?password=...&token=...)
_QUERY_SECRET = re.compile(r"(?P<key>(?:password|passwd|pwd|token|access_token|secret)=)[^&\s]+", re.I)


def mask_url(url: str) -> str:
    """Return ``url`` with its password (and secret query values) replaced by ``***``.

    Example:
        >>> mask_url("rtsp://admin:s3cret@10.1.2.3:554/Streaming/Channels/102")
        'rtsp://admin:***@10.1.2.3:554/Streaming/Channels/102'
    """
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:{_MASK}@{host}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, url)


def mask_text(text: str) -> str:
    """Mask every credential-bearing URL inside free text (log lines, exception messages).

    Example:
        >>> mask_text("cannot open rtsp://u:p@h/s: timeout")
        'cannot open rtsp://u:***@h/s: timeout'
    """
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{_MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, text)
