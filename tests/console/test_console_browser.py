"""The console in a real browser (Debian's Chromium through Playwright), on one running
service with synthetic street cameras: every role signs in; an operator confirms one
flagged event (its order appears) and rejects another; an admin draws a zone and the
detector uses it; a department answers its order from a phone-sized screen with a photo;
the commander sees the verification with before/after evidence and the statistics.
A screenshot of every page goes to tests/_artifacts/; no console error is allowed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml
from helpers import require
from sqlalchemy import select

from api.auth.accounts import add_user
from lianqin.config import load_config
from lianqin.runtime import Runtime
from patrol.tables import EventRow

ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct-horse-battery"
WAIT_S = 90  # generous: the machine is shared


def _camera(cid: str, seed: int, zones: list) -> dict:
    return {"id": cid, "name": f"麦田 {cid}", "township": "星甸街道", "grid": "王庄村网格",
            "analyse_fps": 2, "zones": zones,
            "source": {"type": "synthetic", "scene": "smoke", "onset_s": 2, "seed": seed}}


FIELD = [{"id": "field", "name": "农田", "polygon": [[0, 0.1], [1, 0.1], [1, 1], [0, 1]],
          "kinds": ["smoke"]}]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    require(Path(CHROMIUM).exists(), "Debian's chromium is not installed (make test installs it)")
    tmp = tmp_path_factory.mktemp("console")
    data = {
        "storage": {"database_url": f"sqlite:///{tmp / 'events.db'}",
                    "evidence_dir": str(tmp / "evidence")},
        "dispatch": {"database_url": f"sqlite:///{tmp / 'dispatch.db'}"},
        "cameras": [_camera("street-1", 5, FIELD), _camera("street-3", 6, FIELD),
                    _camera("street-2", 7, [])],
        "rules": {"smoke": {"persistence": {"n": 3, "m": 5}, "end_after_s": 30, "cooldown_s": 5}},
        "review": {"auto_order_min_confidence": {"smoke": 1.0}},  # everything waits for review
        "evidence": {"pre_roll_s": 1, "post_roll_s": 2},
        "verification": {"settle_s": 0.5, "window_s": 3},
        "bridge": {"poll_interval_s": 0.5},
        "api": {"port": 0},
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runtime = Runtime(load_config(path), port=0, config_path=path)
    url = runtime.start()
    sessions = runtime.patrol.sessions
    for name, role, unit in (("ops", "operator", None), ("chief", "commander", None),
                             ("cg", "department", "city_management"),
                             ("hb", "department", "environment")):
        add_user(sessions, name=name, role=role, unit=unit, password=PASSWORD)
    yield {"runtime": runtime, "url": url, "config": path, "tmp": tmp}
    runtime.stop()


@pytest.fixture(scope="module")
def browser(service):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def errors():
    found: list[str] = []
    yield found
    assert found == [], found


def _page(browser, errors, viewport=(1400, 950)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    page.set_default_timeout(WAIT_S * 1000)
    return page


def _login(page, url: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def _event(service, camera: str, **where) -> EventRow | None:
    with service["runtime"].patrol.sessions() as s:
        stmt = select(EventRow).where(EventRow.camera_id == camera)
        for key, value in where.items():
            stmt = stmt.where(getattr(EventRow, key) == value)
        return s.scalars(stmt.order_by(EventRow.started_at)).first()


def _wait(what: str, predicate, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _dispatch(service, path: str) -> dict:
    runtime = service["runtime"]
    return httpx.get(f"{service['url']}/api/dispatch{path}", timeout=10,
                     headers={"Authorization": f"Bearer {runtime.service_token}"}).json()


def test_sign_in_pages_per_role(service, browser, errors):
    url = service["url"]
    page = _page(browser, errors)
    page.goto(f"{url}/orders")  # anonymous: sent to the sign-in page
    page.wait_for_url(lambda u: "/login?next=" in u)
    _shot(page, "login")
    page.fill("input[name=name]", "ops")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    # Chromium logs the refused sign-in (HTTP 401) itself; that one error is expected.
    assert len(errors) == 1 and "401" in errors[0], errors
    errors.clear()
    homes = {"ops": "/review", "chief": "/orders", "cg": "/orders", "admin": "/cameras"}
    for name, home in homes.items():
        # Leave the signed-in page first: its requests in flight would meet the cleared
        # session (401) and send the page to /login in the middle of the next navigation.
        page.goto("about:blank")
        page.context.clear_cookies()
        _login(page, url, name, service["runtime"].admin_password if name == "admin" else PASSWORD)
        assert page.url.endswith(home), (name, page.url)
        nav = page.locator("header nav a[data-nav]").evaluate_all("els => els.map(e => e.dataset.nav)")
        assert {"ops": ["review", "orders", "cameras"], "cg": ["orders"]}.get(name, nav) == nav
    page.goto(f"{url}/users")
    page.wait_for_selector("#users tbody tr[data-user=cg]")
    page.wait_for_selector("#audit tr.audit-login_failed")
    _shot(page, "users")
    page.goto(f"{url}/cameras?lang=en")
    page.wait_for_selector("#cameras .cam[data-state=live] img")
    assert page.locator("header nav a[data-nav=review]").inner_text() == "Review"
    page.wait_for_function("[...document.querySelectorAll('#cameras img')].every(i => i.complete && i.naturalWidth > 0)")
    _shot(page, "cameras")
    page.goto(f"{url}/cameras?lang=zh")
    page.context.close()


def test_operator_confirms_one_event_and_rejects_another(service, browser, errors):
    url = service["url"]
    first = _wait("a pending event on street-1", lambda: _event(service, "street-1", review="pending"))
    second = _wait("a pending event on street-3", lambda: _event(service, "street-3", review="pending"))
    _wait("the clip of street-1's event", lambda: _event(service, "street-1", id=first.id,
                                                          clip_state="ready"))
    page = _page(browser, errors)
    _login(page, url, "ops")
    page.wait_for_selector(f'#queue [data-event="{first.id}"]')
    page.click(f'#queue [data-event="{first.id}"]')
    page.wait_for_selector("#detail video.clip")
    clip = page.evaluate("""async () => {
        const v = document.querySelector('#detail video.clip');
        if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
        await v.play();
        await new Promise(r => setTimeout(r, 800));
        v.dataset.watched = "yes";
        return {ready: v.readyState, duration: v.duration, t: v.currentTime, w: v.videoWidth, err: v.error && v.error.code};
    }""")
    assert clip["ready"] >= 2 and clip["duration"] > 0 and clip["w"] > 0 and clip["err"] is None, clip
    _shot(page, "review")
    # Relabelling re-renders the detail (a live update does the same): the clip being
    # watched keeps its element, so it does not restart.
    for kind in ("dust", "smoke"):
        page.select_option("#detail select.relabel", kind)
        _wait(f"the label {kind}", lambda k=kind: _event(service, "street-1", id=first.id,
                                                          label=k))
        page.wait_for_function(  # the detail was drawn again from the updated event
            f"JSON.parse(document.querySelector('#detail').dataset.key || '{{}}').label === '{kind}'")
        assert page.evaluate("document.querySelector('#detail video.clip').dataset.watched") == "yes"
    page.keyboard.press("c")  # the shortcut confirms the current event
    _wait("the confirmation", lambda: _event(service, "street-1", id=first.id, review="confirmed"))
    page.click(f'#queue [data-event="{second.id}"]')
    page.click("#detail button.reject")
    page.click("#reject-dialog .chip >> nth=0")  # a common reason, then edited
    page.fill("#reject-dialog textarea[name=reason]", "阴影误报，非烟雾")
    _shot(page, "review-reject")
    page.click("#reject-dialog button.reject-ok")
    rejected = _wait("the rejection", lambda: _event(service, "street-3", id=second.id,
                                                     review="rejected"))
    assert "阴影误报" in rejected.review_note and rejected.review_note.startswith("ops:")
    export = page.evaluate("fetch('/api/events/export?review=rejected').then(r => r.text())")
    assert second.id in export and "阴影误报" in export
    # The order raised by the confirmation appears on the commander's board.
    order = _wait("the order", lambda: next((o for o in _dispatch(service, "/orders")["data"]
                                             if o["event_id"] == first.id), None))
    chief = _page(browser, errors)
    _login(chief, url, "chief")
    chief.wait_for_selector(f'#orders [data-order="{order["id"]}"]')
    _shot(chief, "orders")
    page.context.close()
    chief.context.close()
    service["order"] = order


def test_admin_draws_a_zone_and_the_detector_uses_it(service, browser, errors):
    url = service["url"]
    page = _page(browser, errors)
    _login(page, url, "admin", service["runtime"].admin_password)
    page.goto(f"{url}/cameras/street-2/zones")
    page.wait_for_function("document.getElementById('active').dataset.active !== undefined")
    page.click("#new-zone")
    box = page.locator("#canvas").bounding_box()
    for fx, fy in ((0.02, 0.15), (0.98, 0.15), (0.98, 0.98), (0.02, 0.98)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.click("#finish")
    page.fill("#zone-form input[name=id]", "drawn")
    page.fill("#zone-form input[name=name]", "画的农田")
    page.check("#zone-form input[name=kinds][value=smoke]")
    page.click("#save")
    page.wait_for_selector("#active[data-active=drawn]")
    _shot(page, "zones")
    saved = yaml.safe_load(service["config"].read_text(encoding="utf-8"))
    (zone,) = next(c for c in saved["cameras"] if c["id"] == "street-2")["zones"]
    assert zone["id"] == "drawn" and zone["kinds"] == ["smoke"] and len(zone["polygon"]) == 4
    assert all(0.1 < y <= 1 for _, y in zone["polygon"])
    # The running worker detects smoke in the drawn zone: an event there, no restart.
    event = _wait("an event in the drawn zone",
                  lambda: _event(service, "street-2", zone_id="drawn"), timeout=120)
    assert event.kind == "smoke"
    page.context.close()


def test_department_answers_on_a_phone_and_the_commander_sees_the_verification(
        service, browser, errors):
    url, runtime = service["url"], service["runtime"]
    order = service.get("order") or pytest.skip("needs the confirmed order")
    assert "environment" in order["units"] and "city_management" not in order["units"]
    other = _page(browser, errors, viewport=(390, 844))
    _login(other, url, "cg")  # city management: not its order
    other.wait_for_selector("#empty:not([hidden])")
    assert other.locator(f'[data-order="{order["id"]}"]').count() == 0
    other.context.close()
    # Staff on site put the fire out, then report with a photo from a phone.
    source = runtime.patrol.workers["street-1"].source
    source.scene.clear(source.now())
    photo = service["tmp"] / "site.png"
    cv2.imwrite(str(photo), np.full((120, 160, 3), (40, 160, 40), np.uint8))
    phone = _page(browser, errors, viewport=(390, 844))
    _login(phone, url, "hb")
    phone.click(f'#orders [data-order="{order["id"]}"]')
    phone.fill(".feedback-form textarea[name=note]", "已扑灭明火，现场清理完毕")
    phone.set_input_files(".feedback-form input[name=photos]", str(photo))
    _shot(phone, "department-phone")
    phone.click(".feedback-form button[type=submit]")
    phone.wait_for_selector(".feedback .photos img")
    phone.context.close()
    closed = _wait("verification closing the order", lambda: _dispatch(
        service, f"/orders/{order['id']}")["status"] == "closed", timeout=120)
    assert closed
    chief = _page(browser, errors)
    _login(chief, url, "chief")
    chief.goto(f"{url}/orders#{order['id']}")
    chief.wait_for_selector(".before-after .before img")
    chief.wait_for_selector(".before-after .after img")
    chief.wait_for_selector(".verdict.clear")
    chief.wait_for_function("[...document.querySelectorAll('.before-after img, .feedback img')].every(i => i.complete && i.naturalWidth > 0)")
    assert chief.locator(".timeline li").count() >= 4
    _shot(chief, "order-verified")
    chief.goto(f"{url}/stats")
    chief.wait_for_selector("#by-kind svg rect.bar")
    chief.wait_for_selector("#by-unit svg rect.bar")
    chief.wait_for_selector("#trend svg path.total")
    assert chief.locator("[data-kpi='stats.total'] strong").inner_text() != "0"
    _shot(chief, "stats")
    chief.context.close()
