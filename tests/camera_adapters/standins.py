"""Stand-ins that answer as the real peers' documentation says, on loopback.

- :class:`PtzStandin`: an ONVIF PTZ service in front of ipycam, whose own GetPresets answer
  is not valid XML for a standard client (an undeclared ``tptz:`` prefix). Everything else
  is passed through to ipycam, with its service addresses rewritten to the stand-in.
- :func:`wvp_app`: WVP-GB28181-pro's device, channel and play API plus ZLMediaKit's getSnap.
- :func:`snapshot_camera_app`: a JPEG snapshot URL behind HTTP Digest authentication.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import secrets
import threading
from dataclasses import dataclass, field

import cv2
import httpx
import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request, Response

SOAP_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope '
             'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" '
             'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>')
SOAP_TAIL = "</s:Body></s:Envelope>"


def ws_password_digest(nonce_b64: str, created: str, password: str) -> str:
    """WS-Security UsernameToken PasswordDigest = Base64(SHA1(nonce + created + password))."""
    raw = base64.b64decode(nonce_b64) + created.encode() + password.encode()
    return base64.b64encode(hashlib.sha1(raw).digest()).decode()


def _tag(body: str, name: str) -> str | None:
    m = re.search(rf"<(?:\w+:)?{name}[^>]*>([^<]*)</(?:\w+:)?{name}>", body)
    return m.group(1).strip() if m else None


def jpeg(width: int = 320, height: int = 180, value: int = 90) -> bytes:
    image = np.full((height, width, 3), value, np.uint8)
    cv2.putText(image, "lianqin", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 255), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


@dataclass
class PtzStandin:
    """Run with :meth:`start`; ``gotos`` lists the preset tokens asked for, in order."""

    upstream: str  # http://127.0.0.1:PORT of ipycam
    user: str
    password: str
    presets: dict[str, str] = field(default_factory=lambda: {"1": "东侧麦田", "2": "村口"})
    gotos: list[str] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                standin._forward(self, "GET", b"")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                text = body.decode("utf-8", "replace")
                if re.search(r"<(?:\w+:)?(GetPresets|GotoPreset)[\s/>]", text):
                    standin._ptz(self, text)
                else:
                    standin._forward(self, "POST", body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, method: str,
                 body: bytes) -> None:
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() in ("content-type", "authorization", "soapaction")}
        resp = httpx.request(method, self.upstream + handler.path, content=body or None,
                             headers=headers, timeout=10)
        content = resp.content
        if "xml" in resp.headers.get("content-type", "") or content.startswith(b"<?xml"):
            up = self.upstream.split("//", 1)[1].encode()
            content = content.replace(up, f"127.0.0.1:{self.port}".encode())
        self._send(handler, resp.status_code, content,
                   resp.headers.get("content-type", "application/soap+xml"), resp.headers)

    def _send(self, handler: http.server.BaseHTTPRequestHandler, status: int, content: bytes,
              ctype: str, extra: httpx.Headers | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(content)))
        if extra is not None and "www-authenticate" in extra:
            handler.send_header("WWW-Authenticate", extra["www-authenticate"])
        handler.end_headers()
        handler.wfile.write(content)

    def _authorised(self, body: str) -> bool:
        user, digest = _tag(body, "Username"), _tag(body, "Password")
        nonce, created = _tag(body, "Nonce"), _tag(body, "Created")
        if None in (user, digest, nonce, created):
            return False
        return user == self.user and digest == ws_password_digest(nonce, created, self.password)

    def _ptz(self, handler: http.server.BaseHTTPRequestHandler, body: str) -> None:
        ctype = "application/soap+xml; charset=utf-8"
        if not self._authorised(body):
            fault = ('<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>'
                     '<s:Text xml:lang="en">Sender not authorized</s:Text></s:Reason></s:Fault>')
            self._send(handler, 400, (SOAP_HEAD + fault + SOAP_TAIL).encode(), ctype)
            return
        if re.search(r"<(?:\w+:)?GotoPreset[\s/>]", body):
            token = _tag(body, "PresetToken") or ""
            if token not in self.presets:
                fault = ('<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>'
                         f'<s:Text xml:lang="en">No such preset {token}</s:Text></s:Reason></s:Fault>')
                self._send(handler, 400, (SOAP_HEAD + fault + SOAP_TAIL).encode(), ctype)
                return
            self.gotos.append(token)
            answer = "<tptz:GotoPresetResponse/>"
        else:
            items = "".join(f'<tptz:Preset token="{t}"><tt:Name>{n}</tt:Name></tptz:Preset>'
                            for t, n in self.presets.items())
            answer = f"<tptz:GetPresetsResponse>{items}</tptz:GetPresetsResponse>"
        self._send(handler, 200, (SOAP_HEAD + answer + SOAP_TAIL).encode(), ctype)


# -- WVP-GB28181-pro + ZLMediaKit ----------------------------------------------------------
WVP_TOKEN = "wvp-Token-7f3a9c"
ZLM_SECRET = "zlm-Secret-035c73f7"
DEVICE_ID = "34020000001320000001"
CHANNEL_IDS = ["34020000001310000001", "34020000001310000002"]


def wvp_app(rtsp_url: str, *, device_pages: int = 1) -> FastAPI:
    """The platform API the GB/T 28181 source uses; ``rtsp_url`` is what play/start returns.
    ``app.state.calls`` records (path, token) of each request."""
    app = FastAPI()
    app.state.calls = []
    devices = [{"deviceId": DEVICE_ID, "name": "星甸街道 NVR", "manufacturer": "Hikvision",
                "onLine": True}] + [
        {"deviceId": f"3402000000132000{i:04d}", "name": f"NVR {i}", "onLine": False}
        for i in range(2, 2 + (device_pages - 1) * 2)]

    def check(request: Request, token: str | None) -> None:
        app.state.calls.append((request.url.path, token))
        if token != WVP_TOKEN:
            raise HTTPException(401, "token invalid")

    def ok(data: object) -> dict:
        return {"code": 0, "msg": "成功", "data": data}

    @app.get("/api/device/query/devices")
    def devices_page(request: Request, page: int = 1, count: int = 15,
                     access_token: str | None = Header(default=None)) -> dict:
        check(request, access_token)
        start = (page - 1) * count
        return ok({"total": len(devices), "list": devices[start:start + count]})

    @app.get("/api/device/query/devices/{device_id}/channels")
    def channels(device_id: str, request: Request, page: int = 1, count: int = 15,
                 access_token: str | None = Header(default=None)) -> dict:
        check(request, access_token)
        if device_id != DEVICE_ID:
            return {"code": 100, "msg": f"设备不存在 {device_id}", "data": None}
        items = [{"channelId": cid, "name": f"通道{i + 1}", "status": 1, "ptzType": 1}
                 for i, cid in enumerate(CHANNEL_IDS)]
        return ok({"total": len(items), "list": items[(page - 1) * count:page * count]})

    @app.get("/api/play/start/{device_id}/{channel_id}")
    def play(device_id: str, channel_id: str, request: Request,
             access_token: str | None = Header(default=None)) -> dict:
        check(request, access_token)
        if device_id != DEVICE_ID or channel_id not in CHANNEL_IDS:
            return {"code": 100, "msg": "通道不存在", "data": None}
        stream = f"{device_id}_{channel_id}"
        return ok({"app": "rtp", "stream": stream, "rtsp": rtsp_url,
                   "flv": f"http://127.0.0.1/rtp/{stream}.live.flv", "mediaServerId": "zlm1"})

    @app.get("/api/play/stop/{device_id}/{channel_id}")
    def stop(device_id: str, channel_id: str, request: Request,
             access_token: str | None = Header(default=None)) -> dict:
        check(request, access_token)
        return ok(None)

    @app.get("/index/api/getSnap")
    def get_snap(secret: str, url: str, timeout_sec: int = 10, expire_sec: int = 1) -> Response:
        app.state.calls.append(("/index/api/getSnap", url))
        if secret != ZLM_SECRET:
            return Response(b'{"code":-100,"msg":"secret error"}', media_type="application/json")
        return Response(jpeg(), media_type="image/jpeg")

    return app


# -- an HTTP snapshot camera with Digest authentication ------------------------------------
def snapshot_camera_app(user: str, password: str, realm: str = "IP Camera") -> FastAPI:
    """``GET /ISAPI/Streaming/channels/101/picture`` behind RFC 7616 Digest (MD5, qop=auth)."""
    app = FastAPI()
    app.state.served = 0
    nonces: set[str] = set()

    def challenge() -> Response:
        nonce = secrets.token_hex(16)
        nonces.add(nonce)
        header = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
        return Response(status_code=401, headers={"WWW-Authenticate": header})

    def valid(auth: str) -> bool:
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        if fields.get("username") != user or fields.get("nonce") not in nonces:
            return False
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{fields.get('uri')}".encode()).hexdigest()
        expect = hashlib.md5(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:"
                             f"{fields.get('qop')}:{ha2}".encode()).hexdigest()
        return fields.get("response") == expect

    @app.get("/ISAPI/Streaming/channels/101/picture")
    def picture(authorization: str | None = Header(default=None)) -> Response:
        if not authorization or not authorization.startswith("Digest ") or not valid(authorization):
            return challenge()
        app.state.served += 1
        return Response(jpeg(640, 360, 60 + app.state.served % 100), media_type="image/jpeg")

    return app
