"""Cameras: configuration (credentials masked), live health, latest picture."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api import zones as zone_edits
from api.auth.deps import ADMIN, STAFF
from api.context import ContextDep
from api.schemas import (
    CameraPublic,
    CameraStatusPublic,
    PresetPublic,
    ZonePublic,
    ZonesPublic,
    ZonesUpdate,
)
from camera_adapters.secrets import mask_text, mask_url
from patrol.config import CameraConfig

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
Preset = Query(default=None, description="PTZ preset token; unset for a fixed camera.")


# Source fields shown to operators; passwords, tokens and secrets never are.
_SHOWN = ("url", "sub_url", "path", "scene", "host", "port", "profile", "sub_profile",
          "platform_url", "device_id", "channel_id", "transport", "username")


def describe_source(camera: CameraConfig) -> dict[str, str]:
    """The source as shown to operators: type plus masked locators, never a password."""
    src = camera.source.model_dump(mode="json")
    out = {"type": src["type"]}
    for key in _SHOWN:
        if key in src and src[key] is not None:
            out[key] = mask_url(str(src[key]))
    return out


def _public(ctx: ContextDep, camera: CameraConfig) -> CameraPublic:
    status = None
    worker = ctx.patrol.workers.get(camera.id) if ctx.patrol else None
    if worker is not None:
        st = worker.refresh_state()
        status = CameraStatusPublic(
            state=st.state, fps=round(st.fps, 2), bitrate_kbps=round(st.bitrate_bps / 1000, 1),
            frames=st.frames, analysed=st.analysed, reconnects=st.reconnects,
            keyframes_only=st.keyframes_only, gop_frames=st.gop_frames,
            transport=worker.info.transport if worker.info else None,
            record_state=st.record_state,
            record_bitrate_kbps=(round(st.record_bitrate_bps / 1000, 1)
                                 if st.record_state is not None else None),
            preset=st.preset, error=mask_text(st.error) if st.error else None,
            last_frame_at=datetime.fromtimestamp(st.last_frame_wall, UTC) if st.last_frame_wall else None,
            detector_ms={str(k): round(t.mean_ms, 1) for k, t in worker.analyzer.timings.items()},
        )
    tour = None
    if camera.presets:
        tour = {"presets": [p.token for p in camera.presets],
                "at": status.preset if status else None,
                "running": bool(status and status.state == "live")}
    return CameraPublic(
        id=camera.id, name=camera.name, township=camera.township, grid=camera.grid,
        location=camera.location.model_dump() if camera.location else None,
        source=describe_source(camera), analyse_fps=camera.analyse_fps,
        zones=[_zone(z) for z in camera.zones],
        presets=[PresetPublic(token=p.token, name=p.name, zones=[_zone(z) for z in p.zones])
                 for p in camera.presets],
        tour=tour, status=status, snapshot_url=f"/api/cameras/{camera.id}/snapshot.jpg",
    )


def _zone(z) -> ZonePublic:  # noqa: ANN001 - ZoneConfig
    return ZonePublic(id=z.id, name=z.name, polygon=z.polygon, kinds=[str(k) for k in z.kinds])


@router.get("", response_model=list[CameraPublic], dependencies=[Depends(STAFF)])
def list_cameras(ctx: ContextDep) -> list[CameraPublic]:
    return [_public(ctx, c) for c in ctx.config.cameras]


@router.get("/{camera_id}", response_model=CameraPublic, dependencies=[Depends(STAFF)])
def get_camera(camera_id: str, ctx: ContextDep) -> CameraPublic:
    try:
        return _public(ctx, ctx.config.camera(camera_id))
    except KeyError:
        raise HTTPException(404, f"no camera {camera_id!r}") from None


@router.get("/{camera_id}/snapshot.jpg", responses={200: {"content": {"image/jpeg": {}}}},
            dependencies=[Depends(STAFF)])
def camera_snapshot(camera_id: str, ctx: ContextDep) -> Response:
    """The camera's latest decoded picture."""
    worker = ctx.patrol.workers.get(camera_id) if ctx.patrol else None
    if worker is None:
        raise HTTPException(404, f"camera {camera_id!r} is not patrolled here")
    frame = worker.latest_frame
    # Before the first frame (or while connecting) answer a grey "no picture" image, so the
    # camera wall shows the state instead of a broken image.
    image = frame.image if frame is not None else _no_picture(worker.refresh_state().state)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise HTTPException(500, "JPEG encoding failed")
    headers = {"Cache-Control": "no-store", "X-Picture": "live" if frame is not None else "none"}
    return Response(data.tobytes(), media_type="image/jpeg", headers=headers)


def _no_picture(state: str) -> np.ndarray:
    image = np.full((180, 320, 3), 60, np.uint8)
    cv2.putText(image, f"no picture ({state})", (20, 95), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (220, 220, 220), 1)
    return image


@router.get("/{camera_id}/zones", response_model=ZonesPublic, dependencies=[Depends(STAFF)])
def get_zones(camera_id: str, ctx: ContextDep, preset: str | None = Preset) -> ZonesPublic:
    """The zones of one view, as configured and as the running detector uses them."""
    try:
        camera = ctx.config.camera(camera_id)
        zones = camera.zones_at(preset)
    except KeyError:
        raise HTTPException(404, f"no camera {camera_id!r} or preset {preset!r}") from None
    return ZonesPublic(camera_id=camera_id, preset=preset, zones=list(zones),
                       active=zone_edits.active_zone_ids(ctx, camera_id, preset))


@router.put("/{camera_id}/zones", response_model=ZonesPublic, dependencies=[Depends(ADMIN)],
            responses={404: {}, 422: {}})
def put_zones(camera_id: str, body: ZonesUpdate, ctx: ContextDep,
              preset: str | None = Preset) -> ZonesPublic:
    """Replace the zones of one view: saved to the configuration file and used by the
    running camera worker at its next frame (no restart)."""
    try:
        saved = zone_edits.apply(ctx, camera_id, preset, body.zones)
    except KeyError:
        raise HTTPException(404, f"no camera {camera_id!r} or preset {preset!r}") from None
    except zone_edits.ZoneEditError as exc:
        raise HTTPException(422, [{"loc": p, "msg": m} for p, m in exc.errors]) from None
    return ZonesPublic(camera_id=camera_id, preset=preset, zones=body.zones,
                       active=zone_edits.active_zone_ids(ctx, camera_id, preset),
                       saved_to=str(saved) if saved else None)
