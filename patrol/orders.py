"""What the intake side tells the dispatch side: order requests written to the outbox."""

from __future__ import annotations

from typing import Any

from patrol.config import CameraConfig
from patrol.tables import EventRow, OutboxRow

# Work-order states after which the order is over: closed or not disposed (standard 6.3),
# or copied to a department outside joint enforcement (6.2.1.1).
FINAL_ORDER_STATES = ("closed", "not_disposed", "copied")

KIND_NAMES_ZH = {
    "smoke": "秸秆焚烧烟雾",
    "dust": "施工扬尘",
    "stall": "占道经营",
    "crowd": "人群聚集",
}

TOPIC_ORDER_CREATE = "order.create"
TOPIC_ORDER_VERDICT = "order.verdict"


def order_payload(row: EventRow, camera: CameraConfig) -> dict[str, Any]:
    """The order request for an event: who, where, what, and the evidence (as paths
    relative to the evidence store; the bridge turns them into URLs)."""
    kind = row.label or row.kind
    try:
        zone = camera.zone(row.zone_id, row.preset)
    except KeyError:  # the preset was removed from the configuration since
        zone = None
    place = camera.name or camera.id
    preset = next((p for p in camera.presets if p.token == row.preset), None)
    if preset is not None and preset.name:
        place = f"{place}·{preset.name}"
    if zone is not None and zone.name:
        place = f"{place}（{zone.name}）"
    what = KIND_NAMES_ZH.get(kind, kind)
    count = f"，约{row.count}人" if row.count else ""
    description = f"视频巡查发现疑似{what}：{place}{count}，置信度{row.confidence:.2f}"
    evidence = [{"path": row.snapshot, "kind": "snapshot", "phase": "before"}]
    if row.clip:
        evidence.append({"path": row.clip, "kind": "clip", "phase": "before"})
    return {
        "kind": kind,
        "source": "video_patrol",
        "description": description,
        "township": camera.township,
        "grid": camera.grid or None,
        "location": camera.location.model_dump() if camera.location else None,
        "camera_id": camera.id,
        "zone_id": row.zone_id,
        "event_id": row.id,
        "severity": row.severity,
        "count": row.count,
        "evidence": evidence,
    }


def outbox_for_event(row: EventRow, camera: CameraConfig) -> OutboxRow:
    """The outbox row that raises the event's order; its key makes delivery idempotent."""
    return OutboxRow(key=f"event:{row.id}", topic=TOPIC_ORDER_CREATE,
                     payload=order_payload(row, camera))
