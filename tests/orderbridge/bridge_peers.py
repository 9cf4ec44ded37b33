"""Real peers on loopback for the bridge's tests and benchmark: a mosquitto broker, an HTTP
receiver that checks signatures and keeps the first answer per idempotency key, an Open311
GeoReport v2 server (JSON and XML), and an MQTT dispatch side that records orders; and on
our side a camera worker fed in a thread, on a synthetic field where smoke appears."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def until(predicate, timeout: float = 60.0, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Mosquitto:
    """``mosquitto`` on a free loopback port, with persistence so sessions survive a restart."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\n"
            f"max_queued_messages 100000\nlog_dest file {folder}/mosquitto.log\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# -- HTTP ------------------------------------------------------------------------------------
class _QuietServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A client killed mid-request (the SIGKILL tests) is no error of the peer."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server:
    """A ThreadingHTTPServer on a fixed port that can go down and come back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def up(self) -> None:
        self._httpd = _QuietServer(("127.0.0.1", self.port), self.handler())
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _body(h: BaseHTTPRequestHandler) -> bytes | None:
    """The request body; None when the client went away before sending all of it (a real
    server drops such a request too)."""
    length = int(h.headers.get("Content-Length", 0))
    raw = h.rfile.read(length)
    if len(raw) < length:
        h.close_connection = True
        return None
    return raw


def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
           headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


class WebhookReceiver(_Server):
    """Checks ``X-Lianqin-Signature`` (recomputed here from the documented recipe), keeps
    the first answer per Idempotency-Key, and can be told to refuse or to be busy."""

    def __init__(self, port: int, secret: str) -> None:
        super().__init__(port)
        self.url = f"http://127.0.0.1:{port}/hook"
        self.secret = secret
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []  # every accepted POST, repeats included
        self.answers: dict[str, dict[str, Any]] = {}  # idempotency key → first answer
        self.orders: dict[str, dict[str, Any]] = {}  # their order id → the order
        self.rejected = 0
        self.busy: list[tuple[int, dict[str, str]]] = []  # answers to give before accepting

    def handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = _body(self)
                if raw is None:
                    return
                ts = self.headers.get("X-Lianqin-Timestamp", "")
                mac = hmac.new(peer.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256)
                good = hmac.compare_digest(f"sha256={mac.hexdigest()}",
                                           self.headers.get("X-Lianqin-Signature", ""))
                fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
                if not (good and fresh):
                    with peer.lock:
                        peer.rejected += 1
                    _reply(self, 401, b'{"error":"bad signature"}', "application/json")
                    return
                with peer.lock:
                    if peer.busy:
                        status, headers = peer.busy.pop(0)
                        _reply(self, status, b'{"error":"busy"}', "application/json", headers)
                        return
                    body = json.loads(raw)
                    key = self.headers["Idempotency-Key"]
                    peer.received.append({"headers": dict(self.headers), "body": body})
                    answer = peer.answers.get(key)
                    if answer is None:
                        if body["type"] == "order.create":
                            oid = f"W-{len(peer.orders) + 1}"
                            peer.orders[oid] = body["order"]
                            answer = {"result": {"order_no": oid, "state": "受理"}}
                        else:
                            answer = {"ok": True}
                        peer.answers[key] = answer
                _reply(self, 200, json.dumps(answer).encode(), "application/json")

        return Handler


class CallbackReceiver(_Server):
    """Collects signed verification answers POSTed to it."""

    def __init__(self, port: int, secret: str) -> None:
        super().__init__(port)
        self.url = f"http://127.0.0.1:{port}/answers"
        self.secret = secret
        self.answers: list[dict[str, Any]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = _body(self)
                if raw is None:
                    return
                ts = self.headers.get("X-Lianqin-Timestamp", "")
                mac = hmac.new(peer.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256)
                if f"sha256={mac.hexdigest()}" != self.headers.get("X-Lianqin-Signature"):
                    _reply(self, 401, b"{}", "application/json")
                    return
                peer.answers.append(json.loads(raw))
                _reply(self, 204, b"", "application/json")

        return Handler


class Open311Server(_Server):
    """GeoReport v2 as the spec writes it: services, POST requests (form-encoded, api_key),
    GET requests (filters: service_request_id, service_code, start_date, status) and
    GET requests/{id}, in .json and .xml. It knows no idempotency keys."""

    SERVICES = [{"service_code": "SMK", "service_name": "秸秆焚烧", "type": "realtime"},
                {"service_code": "DST", "service_name": "施工扬尘", "type": "realtime"},
                {"service_code": "STL", "service_name": "占道经营", "type": "realtime"},
                {"service_code": "CRD", "service_name": "人群聚集", "type": "realtime"}]

    def __init__(self, port: int, api_key: str = "k-311") -> None:
        super().__init__(port)
        self.url = f"http://127.0.0.1:{port}/open311/v2"
        self.api_key = api_key
        self.lock = threading.Lock()
        self.requests: dict[str, dict[str, Any]] = {}
        self.posts = 0

    def close(self, srid: str, notes: str = "已处置") -> None:
        with self.lock:
            self.requests[srid].update(status="closed", status_notes=notes,
                                       updated_datetime=datetime.now(UTC).isoformat())

    def set_notes(self, srid: str, notes: str, status: str = "open") -> None:
        with self.lock:
            self.requests[srid].update(status=status, status_notes=notes)

    @staticmethod
    def render(items: list[dict[str, Any]], fmt: str, root: str = "service_requests",
               tag: str = "request") -> tuple[bytes, str]:
        if fmt == "json":
            return json.dumps(items, ensure_ascii=False).encode(), "application/json"
        top = ET.Element(root)
        for item in items:
            node = ET.SubElement(top, tag)
            for k, v in item.items():
                ET.SubElement(node, k).text = "" if v is None else str(v)
        return (b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8"),
                "text/xml; charset=utf-8")

    def handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _split(self) -> tuple[str, str, dict[str, list[str]]]:
                url = urlparse(self.path)
                path, _, fmt = url.path.rpartition(".")
                prefix = "/open311/v2/"
                return path.removeprefix(prefix), fmt, parse_qs(url.query)

            def _send(self, status: int, items: list[dict[str, Any]], fmt: str, **kw: str) -> None:
                body, ctype = peer.render(items, fmt, **kw)
                _reply(self, status, body, ctype)

            def _error(self, status: int, code: int, text: str, fmt: str) -> None:
                self._send(status, [{"code": code, "description": text}], fmt,
                           root="errors", tag="error")

            def do_GET(self) -> None:  # noqa: N802
                path, fmt, query = self._split()
                if fmt not in ("json", "xml"):
                    return _reply(self, 404, b"", "text/plain")
                with peer.lock:
                    items = list(peer.requests.values())
                if path == "services":
                    return self._send(200, peer.SERVICES, fmt, root="services", tag="service")
                if path.startswith("requests/"):
                    found = [i for i in items if i["service_request_id"] == path.split("/")[1]]
                    if not found:
                        return self._error(404, 404, "service_request_id not found", fmt)
                    return self._send(200, found, fmt)
                if path == "requests":
                    if "service_request_id" in query:
                        ids = query["service_request_id"][0].split(",")
                        items = [i for i in items if i["service_request_id"] in ids]
                    if "service_code" in query:
                        codes = query["service_code"][0].split(",")
                        items = [i for i in items if i["service_code"] in codes]
                    if "status" in query:
                        items = [i for i in items if i["status"] == query["status"][0]]
                    if "start_date" in query:
                        since = datetime.fromisoformat(query["start_date"][0].replace("Z", "+00:00"))
                        items = [i for i in items
                                 if datetime.fromisoformat(i["requested_datetime"]) >= since]
                    return self._send(200, items[:1000], fmt)
                return self._error(404, 404, "unknown resource", fmt)

            def do_POST(self) -> None:  # noqa: N802
                path, fmt, _ = self._split()
                body = _body(self)
                if body is None:
                    return
                raw = body.decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                if path != "requests" or fmt not in ("json", "xml"):
                    return _reply(self, 404, b"", "text/plain")
                if form.get("api_key") != peer.api_key:
                    return self._error(403, 403, "api_key is missing or wrong", fmt)
                codes = {s["service_code"] for s in peer.SERVICES}
                if form.get("service_code") not in codes:
                    return self._error(400, 400, "service_code not found", fmt)
                if not (("lat" in form and "long" in form) or form.get("address_string")):
                    return self._error(400, 400, "location (lat & long or address) required", fmt)
                with peer.lock:
                    peer.posts += 1
                    srid = str(1000 + len(peer.requests))
                    now = datetime.now(UTC).isoformat()
                    peer.requests[srid] = {
                        "service_request_id": srid, "status": "open", "status_notes": None,
                        "service_name": form["service_code"], "service_code": form["service_code"],
                        "description": form.get("description"), "agency_responsible": "县联勤指挥中心",
                        "service_notice": None, "requested_datetime": now, "updated_datetime": now,
                        "expected_datetime": None, "address": form.get("address_string"),
                        "address_id": None, "zipcode": None, "lat": form.get("lat"),
                        "long": form.get("long"), "media_url": form.get("media_url")}
                self._send(201, [{"service_request_id": srid, "service_notice": "已受理",
                                  "account_id": None}], fmt)

        return Handler


class MqttDispatchSide:
    """The dispatch side on the broker: takes orders (first copy per idempotency key)."""

    def __init__(self, port: int, prefix: str = "lianqin", client_id: str = "dispatch-side") -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.messages: list[mqtt.MQTTMessage] = []
        self.first: dict[str, dict[str, Any]] = {}  # idempotency key → first body
        self.copies: dict[str, int] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connected.clear()
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", port, 30, clean_start=False, properties=props)
        self.client.loop_start()
        until(self.connected.is_set, 30, "the dispatch side to connect")

    def _on_connect(self, client, *_: Any) -> None:  # noqa: ANN001
        client.subscribe(f"{self.prefix}/orders/#", qos=1)
        client.subscribe(f"{self.prefix}/verify/reply", qos=1)
        self.connected.set()

    def _on_message(self, _client, _userdata, msg) -> None:  # noqa: ANN001
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        with self.lock:
            self.messages.append(msg)
            key = props.get("idempotency-key")
            if key:
                self.copies[key] = self.copies.get(key, 0) + 1
                self.first.setdefault(key, json.loads(msg.payload))

    def publish(self, topic: str, body: Any, **kw: Any) -> None:
        self.client.publish(topic, json.dumps(body), qos=1, **kw).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- the event store ---------------------------------------------------------------------------
def add_event(sessions, event_id: str, *, kind: str = "smoke", count: int | None = None,  # noqa: ANN001
              camera: str = "cam", zone: str = "z") -> None:
    """An event that raised an order, as the intake writes it (event row + outbox row)."""
    from patrol.orders import TOPIC_ORDER_CREATE
    from patrol.tables import EventRow, OutboxRow

    with sessions.begin() as s:
        s.add(EventRow(id=event_id, camera_id=camera, zone_id=zone, kind=kind, state="active",
                       review="auto", confidence=0.9, count=count, severity="high", boxes=[],
                       start_ts=0.0, started_at=datetime.now(UTC),
                       snapshot=f"{camera}/{event_id}/snapshot.jpg"))
        s.add(OutboxRow(key=f"event:{event_id}", topic=TOPIC_ORDER_CREATE, payload={
            "kind": kind, "source": "video_patrol", "description": f"event {event_id}",
            "township": "新桥镇", "grid": None, "location": {"lat": 32.1, "lon": 118.7},
            "camera_id": camera, "zone_id": zone, "event_id": event_id, "severity": "high",
            "count": count,
            "evidence": [{"path": f"{camera}/{event_id}/snapshot.jpg", "kind": "snapshot",
                          "phase": "before"}]}))


# -- a running camera worker -------------------------------------------------------------------
ANALYSE_EVERY = 4  # an 8 fps camera analysed at 2 fps


def smoke_field(tmp_path: Path) -> dict[str, Any]:
    """Storage under ``tmp_path`` and one synthetic camera, ``field``, whose smoke starts at
    3 s, watched in one zone over the whole picture: the start of a configuration."""
    return {
        "storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                    "evidence_dir": str(tmp_path / "evidence")},
        "cameras": [{"id": "field", "township": "星甸街道", "source": {
            "type": "synthetic", "scene": "smoke", "onset_s": 3, "realtime": False, "seed": 7},
            "zones": [{"id": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                       "kinds": ["smoke"]}]}],
    }


class Feeder:
    """Plays the capture and analysis loops of a worker, unpaced, in a thread."""

    def __init__(self, worker) -> None:  # noqa: ANN001
        self.worker, self.stop = worker, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        source = self.worker.source
        self.worker.info = source.open()
        while not self.stop.is_set() and (frame := source.read()) is not None:
            self.worker.ingest(frame)
            if frame.index % ANALYSE_EVERY == 0:
                self.worker.analyse(frame)
            time.sleep(0.002)
        source.close()
