"""Evidence on an S3-compatible store (moto's server, over HTTP on loopback): snapshots and
clips written, expiring signed URLs, and retention that never touches open orders."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import numpy as np
import pytest
from helpers import moving_square, write_video
from scale_peers import s3_client, s3_endpoint  # noqa: F401

from camera_adapters.file import FileSource, FileSourceConfig
from camera_adapters.frame import EncodedPacket, StreamInfo
from patrol.evidence import EvidenceStore, S3EvidenceStore
from patrol.retention import purge_evidence
from patrol.store import open_engine, session_factory
from patrol.tables import EventRow


@pytest.fixture()
def store(s3_endpoint: str) -> S3EvidenceStore:  # noqa: F811
    bucket = f"ev-{time.time_ns()}"
    return S3EvidenceStore(bucket, prefix="county/", endpoint_url=s3_endpoint,
                           access_key="testing", secret_key="testing", url_ttl_s=60,
                           create_bucket=True)


def _packets(tmp: Path) -> tuple[StreamInfo, list[EncodedPacket]]:
    """Packets as a camera source hands them over (the file adapter)."""
    source = FileSource("cam", FileSourceConfig(
        path=write_video(tmp / "src.mp4", moving_square(16), fps=8, gop=8)))
    info = source.open()
    packets = []
    while (frame := source.read()) is not None:
        packets.extend(frame.packets)
    source.close()
    return info, packets


def test_snapshot_and_clip_round_trip_with_signed_urls(store: S3EvidenceStore,
                                                       tmp_path: Path) -> None:
    folder = store.folder("cam-1", "e1", datetime(2026, 11, 27, tzinfo=UTC).timestamp())
    assert folder == "cam-1/20261127/e1"
    image = np.full((96, 160, 3), 200, np.uint8)
    rel = store.write_jpeg(f"{folder}/snapshot.jpg", image)
    assert rel == "cam-1/20261127/e1/snapshot.jpg"
    info, packets = _packets(tmp_path)
    clip = store.write_clip(f"{folder}/clip.mp4", info, packets)
    url = store.url(rel)
    assert "X-Amz-Expires=60" in url and "X-Amz-Signature" in url
    got = httpx.get(url, timeout=10)
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"  # a JPEG
    clip_bytes = httpx.get(store.url(clip), timeout=10).content
    (tmp_path / "clip.mp4").write_bytes(clip_bytes)
    with av.open(str(tmp_path / "clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(packets)
    with pytest.raises(ValueError, match="escapes"):
        store.write_jpeg("../etc/passwd", image)


def test_signed_url_expires_after_its_ttl(store: S3EvidenceStore) -> None:
    """moto serves signed URLs without checking them, so this checks what the URL asks
    of a real store (MinIO, AWS): SigV4, signed now, valid for the configured seconds."""
    rel = store.write_jpeg("cam-1/20261127/e2/snapshot.jpg", np.zeros((8, 8, 3), np.uint8))
    for ttl, expected in ((None, "60"), (5, "5")):
        query = parse_qs(urlsplit(store.url(rel, ttl_s=ttl)).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == [expected]
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs((signed - datetime.now(UTC)).total_seconds()) < 120


def _event(eid: str, kind: str, ended_days_ago: float, **kw) -> EventRow:  # noqa: ANN003
    now = datetime.now(UTC)
    return EventRow(id=eid, camera_id="cam-1", zone_id="z", kind=kind, state="ended",
                    review=kw.pop("review", "auto"), confidence=0.9, severity="minor",
                    boxes=[], start_ts=0.0, started_at=now - timedelta(days=ended_days_ago + 1),
                    ended_at=now - timedelta(days=ended_days_ago),
                    snapshot=f"cam-1/20261127/{eid}/snapshot.jpg", clip_state="none", **kw)


@pytest.mark.parametrize("backend", ["s3", "folder"])
def test_retention_by_kind_keeps_open_orders(backend: str, store: S3EvidenceStore,
                                             tmp_path: Path) -> None:
    evidence = store if backend == "s3" else EvidenceStore(tmp_path / "evidence")
    engine = open_engine(f"sqlite:///{tmp_path / 'events.db'}")
    sessions = session_factory(engine)
    rows = [
        _event("old-closed", "smoke", 40, order_id="1", order_status="closed"),
        _event("old-open", "smoke", 40, order_id="2", order_status="dispatched"),
        _event("old-creating", "smoke", 40),  # auto, its order not yet delivered
        _event("old-rejected", "smoke", 40, review="rejected"),
        _event("young-closed", "smoke", 5, order_id="3", order_status="closed"),
        _event("old-stall", "stall", 40, order_id="4", order_status="not_disposed"),
        _event("crowd-no-rule", "crowd", 400, order_id="5", order_status="closed"),
    ]
    with sessions.begin() as s:
        s.add_all(rows)
    for row in rows:
        evidence.write_jpeg(row.snapshot, np.zeros((8, 8, 3), np.uint8))
        evidence.write_jpeg(row.snapshot.replace("snapshot", "raw"), np.zeros((8, 8, 3), np.uint8))
    result = purge_evidence(sessions, evidence, {"smoke": 30, "stall": 60, "dust": 1})
    gone = {"old-closed", "old-rejected"}
    assert result.events == len(gone) and result.objects == 2 * len(gone)
    with sessions() as s:
        for row in rows:
            fresh = s.get(EventRow, row.id)
            assert (fresh.snapshot is None) == (row.id in gone), row.id
            try:
                evidence.read(row.snapshot)
                present = True
            except Exception:
                present = False
            assert present == (row.id not in gone), row.id
    assert purge_evidence(sessions, evidence, {"smoke": 30}).events == 0  # idempotent
    engine.dispose()


def test_bucket_listing_uses_the_prefix(store: S3EvidenceStore, s3_endpoint: str) -> None:  # noqa: F811
    store.write_jpeg("cam-9/20261127/e9/snapshot.jpg", np.zeros((8, 8, 3), np.uint8))
    keys = [o["Key"] for o in s3_client(s3_endpoint).list_objects_v2(
        Bucket=store.bucket).get("Contents", [])]
    assert keys == ["county/cam-9/20261127/e9/snapshot.jpg"]
