"""Keep camera credentials out of logs, API answers, events and error messages."""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_MASK = "***"
# user:password@ inside any URL-looking text, e.g. rtsp://admin:12345@10.0.0.5:554/...
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]*)@")
# query-string secrets some NVRs and platforms use (?password=...&token=...)
_QUERY_SECRET = re.compile(r"(?P<key>(?:password|passwd|pwd|token|access_token|secret)=)[^&\s]+", re.I)
# Secrets shorter than this are not searched for in free text: masking "1" or "ab" would
# garble every message and protect nothing.
_MIN_SECRET_LEN = 4


class _KnownSecrets:
    """Passwords and tokens met in the configuration, masked wherever they turn up in text
    (a library that prints a password outside any URL is caught here too)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_SECRET_LEN:
            return
        with self._lock:
            self._values.update({value, quote(value, safe="")})

    def mask(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, _MASK)
        return text


KNOWN_SECRETS = _KnownSecrets()


def remember_secret(value: str | None) -> None:
    """Mask ``value`` in every later :func:`mask_text` / :func:`mask_url` output."""
    KNOWN_SECRETS.add(value)


def remember_url_secrets(url: str | None) -> None:
    """Remember the password of ``url`` (``scheme://user:password@host/...``), if any."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        remember_secret(password)
        remember_secret(unquote(password))


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username``/``password`` put into its authority (percent-encoded), unless
    it already carries a user.

    Example:
        >>> with_credentials("rtsp://10.0.0.5:554/ch1", "admin", "p@ss/1")
        'rtsp://admin:p%40ss%2F1@10.0.0.5:554/ch1'
    """
    if not username:
        return url
    parts = urlsplit(url)
    if parts.username:
        return url
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query,
                       parts.fragment))


def mask_url(url: str) -> str:
    """Return ``url`` with its password (and secret query values) replaced by ``***``.

    Example:
        >>> mask_url("rtsp://admin:s3cret@10.1.2.3:554/Streaming/Channels/102")
        'rtsp://admin:***@10.1.2.3:554/Streaming/Channels/102'
    """
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:  # a malformed port or authority: mask it as free text
        return mask_text(url)
    if password is not None:
        host = parts.hostname or ""
        if port:
            host = f"{host}:{port}"
        netloc = f"{parts.username}:{_MASK}@{host}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    url = _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, url)
    return KNOWN_SECRETS.mask(url)


def mask_text(text: str) -> str:
    """Mask every credential-bearing URL inside free text (log lines, exception messages).

    Example:
        >>> mask_text("cannot open rtsp://u:p@h/s: timeout")
        'cannot open rtsp://u:***@h/s: timeout'
    """
    text = KNOWN_SECRETS.mask(text)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{_MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: m.group("key") + _MASK, text)
