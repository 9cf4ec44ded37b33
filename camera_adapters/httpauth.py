"""HTTP authentication as cameras ask for it: Digest (Hikvision, Dahua, most ONVIF
snapshot URIs) or Basic, whichever the camera's challenge names."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class CameraAuth(httpx.Auth):
    """Answers the camera's own challenge; remembers the scheme after the first 401.

    Example:
        >>> import httpx
        >>> client = httpx.Client(auth=CameraAuth("admin", "secret"))
    """

    def __init__(self, username: str, password: str) -> None:
        self._digest = httpx.DigestAuth(username, password)
        self._basic = httpx.BasicAuth(username, password)
        self._scheme: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self._scheme == "basic":
            yield from self._basic.auth_flow(request)
            return
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "").strip().lower()
        if challenge.startswith("digest"):
            self._scheme = "digest"
            yield from self._digest.auth_flow(request)
        elif challenge.startswith("basic"):
            self._scheme = "basic"
            yield from self._basic.auth_flow(request)


def camera_auth(username: str | None, password: str | None) -> httpx.Auth | None:
    return CameraAuth(username, password or "") if username else None
