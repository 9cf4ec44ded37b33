"""The whole loop, end to end: `lianqin demo` on the synthetic cameras, watched in a real
browser, ending with every order closed by verification, one redo, no false event."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from helpers import require
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

DURATION_S = 200
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lianqin", "demo", "--duration", str(DURATION_S), "--port", "0",
         "--json", "--data-dir", str(data / "run")],
        stdout=subprocess.PIPE, stderr=(data / "demo.log").open("wb"), text=True)
    lines: list[str] = []
    url_found = threading.Event()

    def reader() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "console on" in line:
                url_found.set()

    threading.Thread(target=reader, daemon=True).start()
    assert url_found.wait(120), (data / "demo.log").read_text()[-3000:]
    line = next(text for text in lines if "console on" in text)
    url = line.split("console on ")[1].split("/ ")[0].rstrip("/")
    # A fresh demo creates the account `admin` and prints its password once.
    password = next(text for text in lines if "sign in as admin" in text).split()[-1]
    client = httpx.Client(base_url=url, timeout=10)
    assert client.post("/api/auth/login", json={"name": "admin", "password": password}).status_code == 200
    yield {"proc": proc, "url": url, "lines": lines, "log": data / "demo.log",
           "data": data / "run", "password": password, "client": client}
    client.close()
    if proc.poll() is None:
        proc.kill()


def _orders(client: httpx.Client) -> list[dict]:
    return client.get("/api/dispatch/orders", params={"limit": 500}).json()["data"]


def test_console_shows_events_evidence_and_orders_in_a_real_browser(demo):
    require(Path(CHROMIUM).exists(), "Debian's chromium is not installed (make test installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    url = demo["url"]
    deadline = time.monotonic() + DURATION_S - 20
    while time.monotonic() < deadline and sum(o["status"] == "closed" for o in _orders(demo["client"])) < 2:
        time.sleep(2)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/login")
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", demo["password"])
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: u.endswith("/cameras"), timeout=30_000)
        page.wait_for_selector("#cameras .cam", timeout=30_000)
        assert page.locator("#cameras .cam").count() == 5
        page.wait_for_function("[...document.querySelectorAll('#cameras img')].every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(ARTIFACTS / "demo-cameras.png"), full_page=True)
        page.goto(f"{url}/orders")
        page.wait_for_selector("#orders [data-status=closed]", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "demo-orders.png"), full_page=True)
        page.goto(f"{url}/review")
        page.select_option("#filters select[name=review]", "")  # every event, not only pending
        page.wait_for_selector("#queue li", timeout=30_000)
        # Every snapshot thumbnail loaded.
        page.wait_for_function("[...document.querySelectorAll('#queue img')].every(i => i.complete && i.naturalWidth > 0)")
        # A clip plays in the browser (H.264 MP4 cut by stream copy).
        events = demo["client"].get("/api/events", params={"limit": 200}).json()["data"]
        with_clip = next(e["id"] for e in events if e["clip_url"])
        # The queue shows every event once the filter change has been applied.
        page.wait_for_selector(f'#queue [data-event="{with_clip}"]', timeout=30_000)
        page.click(f'#queue [data-event="{with_clip}"]')
        page.wait_for_selector("#detail video", timeout=60_000)
        page.evaluate("""async () => {
            const v = document.querySelector('#detail video');
            v.muted = true;
            await v.play();
        }""")
        # Playback advances (on a loaded machine it may take a while to get going).
        page.wait_for_function(
            "document.querySelector('#detail video').currentTime > 0.5", timeout=60_000)
        playable = page.evaluate("""() => {
            const v = document.querySelector('#detail video');
            return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime, err: v.error && v.error.code};
        }""")
        assert playable["w"] == 640 and playable["h"] == 360 and playable["err"] is None, playable
        page.screenshot(path=str(ARTIFACTS / "demo-review.png"), full_page=True)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "openapi.png"))
        browser.close()
    assert errors == []


def test_demo_ends_with_every_order_closed_by_verification(demo):
    proc = demo["proc"]
    proc.wait(timeout=DURATION_S + 120)
    assert proc.returncode == 0, demo["log"].read_text()[-3000:]
    summary = json.loads(demo["lines"][-1])
    log = demo["log"].read_text()[-4000:]
    assert all(summary["events"][k] >= 1 for k in ("smoke", "dust", "stall", "crowd")), (summary, log)
    assert summary["false_events"] == 0, summary
    assert summary["redos"] >= 1, summary
    assert set(summary["orders"]) == {"closed"} and summary["orders"]["closed"] >= 4, (summary, log)
    # An order for each kind, each closed by the video-patrol verification.
    engine = create_engine(f"sqlite:///{demo['data'] / 'dispatch.db'}")
    with engine.connect() as conn:
        kinds = {k for (k,) in conn.execute(text("SELECT kind FROM dispatch_orders"))}
        closers = {a for (a,) in conn.execute(text(
            "SELECT actor FROM dispatch_order_history WHERE to_status = 'closed'"))}
    engine.dispose()
    assert kinds == {"smoke", "dust", "stall", "crowd"}
    assert closers == {"video_patrol"}
