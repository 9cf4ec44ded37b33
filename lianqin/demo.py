"""``lianqin demo``: the whole loop on synthetic cameras, with simulated department staff.

The staff answer every dispatched order: they go out, dispose of the problem (the
synthetic scene clears), and report back; verification then closes the order. Once per
run they report too early, before disposing, so verification sends that order back
(redo) and their later report closes it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from lianqin.config import EXAMPLE, LianqinConfig, load_config
from lianqin.runtime import Runtime
from patrol.tables import EventRow
from vision.types import EventKind

log = logging.getLogger(__name__)

MARKER = ".lianqin-demo"


@dataclass(frozen=True)
class StaffTiming:
    """Seconds (wall clock) the simulated staff take."""

    travel_s: float = 6.0  # from dispatch to disposing of the problem on site
    report_s: float = 8.0  # from disposal to reporting it (the scene has cleared by then)
    early_report_s: float = 3.0  # the one careless report, before anything was done


@dataclass
class DemoDepartments:
    """Simulated department staff working the dispatch core's API, as a phone app would."""

    dispatch_url: str
    runtime: Runtime
    timing: StaffTiming = field(default_factory=StaffTiming)
    _handled: set[tuple[int, int]] = field(default_factory=set)
    _todo: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    _early_done: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._client = httpx.Client(base_url=self.dispatch_url, timeout=10, headers={
            "Authorization": f"Bearer {self.runtime.service_token}"})
        self._thread = threading.Thread(target=self._loop, name="demo-staff", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._take_new_orders()
                self._do_due()
            except httpx.HTTPError as exc:
                log.warning("demo staff: dispatch core unreachable: %s", exc)

    def _take_new_orders(self) -> None:
        now = time.monotonic()
        for status in ("dispatched", "redo"):
            orders = self._client.get("/orders", params={"status": status, "limit": 500}).json()
            for order in orders["data"]:
                key = (order["id"], order.get("redo_count", 0))
                if key in self._handled:
                    continue
                self._handled.add(key)
                if not self._early_done and order.get("camera_id"):
                    self._early_done = True
                    self._todo.append((now + self.timing.early_report_s, "report", order))
                else:
                    self._todo.append((now + self.timing.travel_s, "dispose", order))

    def _do_due(self) -> None:
        now = time.monotonic()
        due = [t for t in self._todo if t[0] <= now]
        self._todo = [t for t in self._todo if t[0] > now]
        for _, action, order in due:
            if action == "dispose":
                self._dispose(order)
                self._todo.append((now + self.timing.report_s, "report", order))
            else:
                unit = order.get("lead_unit") or (order.get("units") or ["unit"])[0]
                resp = self._client.post(f"/orders/{order['id']}/feedback",
                                         json={"unit": unit, "note": "已到场处置完毕"})
                log.info("demo staff reported order %s: HTTP %s", order["id"], resp.status_code)

    def _dispose(self, order: dict[str, Any]) -> None:
        patrol = self.runtime.patrol
        worker = patrol.workers.get(order.get("camera_id") or "") if patrol else None
        scene = getattr(worker.source, "scene", None) if worker else None
        if scene is not None:
            scene.clear(worker.source.now())
            log.info("demo staff disposed of order %s on %s", order["id"], worker.camera.id)


def demo_config(data_dir: Path) -> LianqinConfig:
    """The shipped example configuration, with its stores moved into ``data_dir``."""
    config = load_config(EXAMPLE)
    storage = config.storage.model_copy(update={
        "database_url": f"sqlite:///{data_dir / 'lianqin.db'}",
        "evidence_dir": data_dir / "evidence"})
    dispatch = config.dispatch.model_copy(update={
        "database_url": f"sqlite:///{data_dir / 'dispatch.db'}"})
    return config.model_copy(update={"storage": storage, "dispatch": dispatch})


def prepare_data_dir(data_dir: Path) -> None:
    """Start each demo afresh; refuse to wipe a folder the demo did not create."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise SystemExit(f"{data_dir} is not empty and was not made by `lianqin demo`; "
                             "choose another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by lianqin demo; wiped at the next demo\n")


def summarise(runtime: Runtime) -> dict[str, Any]:
    """What the run produced: events by kind, false events, orders by state, redos."""
    assert runtime.patrol is not None
    with runtime.patrol.sessions() as s:
        rows = s.scalars(select(EventRow)).all()
    events = Counter(r.label or r.kind for r in rows)
    with httpx.Client(base_url=f"{runtime.url}/api/dispatch", timeout=10, headers={
            "Authorization": f"Bearer {runtime.service_token}"}) as client:
        orders = client.get("/orders", params={"source": "video_patrol", "limit": 500}).json()["data"]
    return {
        "events": {k.value: events.get(k.value, 0) for k in EventKind},
        "false_events": sum(1 for r in rows if r.truth is False),
        "orders": dict(Counter(o["status"] for o in orders)),
        "redos": sum(int(o.get("redo_count", 0)) for o in orders),
    }


def run_demo(*, duration: float | None, port: int, data_dir: Path,
             on_url=print) -> dict[str, Any]:  # noqa: ANN001 - a print-like callable
    prepare_data_dir(data_dir)
    config = demo_config(data_dir)
    runtime = Runtime(config, port=port)
    url = runtime.start()
    if runtime.admin_password:
        on_url(f"lianqin demo: sign in as admin with password {runtime.admin_password}")
    on_url(f"lianqin demo: console on {url}/  (API docs {url}/docs)")
    staff = DemoDepartments(f"{url}/api/dispatch", runtime)
    staff.start()
    try:
        deadline = time.monotonic() + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        staff.stop()
        summary = summarise(runtime)
        runtime.stop()
    return summary
