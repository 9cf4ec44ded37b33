"""Evidence: annotated JPEG snapshots and MP4 clips cut from the packet ring by stream copy."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from camera_adapters.frame import EncodedPacket, StreamInfo
from rules.zones import Zone

log = logging.getLogger(__name__)

# BGR colours per kind, for boxes and labels drawn on snapshots.
KIND_COLOURS = {
    "smoke": (200, 200, 255),
    "dust": (60, 140, 230),
    "stall": (0, 200, 255),
    "crowd": (60, 60, 255),
}
ZONE_COLOUR = (0, 255, 0)


class EvidenceStore:
    """Lays evidence files out as ``{root}/{camera}/{YYYYMMDD}/{event}/{name}``.

    Paths handed to the database are relative to the root, so the folder can move.
    """

    def __init__(self, root: Path, jpeg_quality: int = 85) -> None:
        self.root = Path(root)
        self.jpeg_quality = jpeg_quality

    def folder(self, camera_id: str, event_id: str, when: float) -> str:
        day = datetime.fromtimestamp(when, UTC).strftime("%Y%m%d")
        return f"{camera_id}/{day}/{event_id}"

    def path(self, relative: str) -> Path:
        resolved = (self.root / relative).resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise ValueError(f"evidence path escapes the evidence folder: {relative}")
        return resolved

    def write_jpeg(self, relative: str, image: np.ndarray) -> str:
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {relative}")
        _atomic_write(path, data.tobytes())
        return relative

    def write_clip(self, relative: str, info: StreamInfo, packets: Sequence[EncodedPacket]) -> str:
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.mp4")
        write_clip(tmp, info, packets)
        os.replace(tmp, path)
        return relative

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def delete_folder(self, relative: str) -> int:
        """Delete the files under ``relative/`` (evidence retention); returns how many."""
        folder = self.path(relative.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count


class S3EvidenceStore:
    """Evidence in an S3-compatible object store (MinIO, Ceph RGW, AWS S3), laid out like
    the folder: ``{prefix}{camera}/{YYYYMMDD}/{event}/{name}``. The database keeps the same
    relative paths as with the folder; the console and the dispatch side get expiring
    signed URLs (``url``) instead of a static file route.

    ``client`` is a boto3 S3 client (made from the arguments when not given).
    """

    def __init__(self, bucket: str, *, prefix: str = "", jpeg_quality: int = 85,
                 url_ttl_s: int = 900, client: Any = None, endpoint_url: str | None = None,
                 region: str = "us-east-1", access_key: str | None = None,
                 secret_key: str | None = None, create_bucket: bool = False) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=endpoint_url or None, region_name=region,
                aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                config=Config(signature_version="s3v4", retries={"max_attempts": 5,
                                                                 "mode": "standard"},
                              s3={"addressing_style": "path"}))
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.jpeg_quality = jpeg_quality
        self.url_ttl_s = url_ttl_s
        if create_bucket:
            self.ensure_bucket()

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (compose files, tests)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def folder(self, camera_id: str, event_id: str, when: float) -> str:
        day = datetime.fromtimestamp(when, UTC).strftime("%Y%m%d")
        return f"{camera_id}/{day}/{event_id}"

    def key(self, relative: str) -> str:
        parts = relative.split("/")
        if relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"evidence path escapes the evidence store: {relative}")
        return f"{self.prefix}{relative}"

    def write_jpeg(self, relative: str, image: np.ndarray) -> str:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {relative}")
        self.client.put_object(Bucket=self.bucket, Key=self.key(relative), Body=data.tobytes(),
                               ContentType="image/jpeg")
        return relative

    def write_clip(self, relative: str, info: StreamInfo, packets: Sequence[EncodedPacket]) -> str:
        key = self.key(relative)
        with tempfile.TemporaryDirectory(prefix="lianqin-clip-") as tmp:
            path = Path(tmp) / "clip.mp4"
            write_clip(path, info, packets)
            self.client.upload_file(str(path), self.bucket, key,
                                    ExtraArgs={"ContentType": "video/mp4"})
        return relative

    def read(self, relative: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.key(relative))["Body"].read()

    def url(self, relative: str, ttl_s: int | None = None) -> str:
        """A signed GET URL for ``relative`` that expires after ``ttl_s`` seconds."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key(relative)},
            ExpiresIn=ttl_s or self.url_ttl_s)

    def delete_folder(self, relative: str) -> int:
        """Delete every object under ``relative/``; returns how many."""
        prefix = self.key(relative.rstrip("/")) + "/"
        deleted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                deleted += len(keys)
        return deleted


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_clip(path: Path, info: StreamInfo, packets: Sequence[EncodedPacket]) -> None:
    """Mux ``packets`` into an MP4 at ``path`` without re-encoding (stream copy).

    The first packet must be a keyframe (``PacketRing.slice`` guarantees it). Timestamps
    are rebased to start at zero; ``+faststart`` puts the index first so browsers can
    play the clip while it downloads.
    """
    if not packets:
        raise ValueError("no packets to write")
    if not packets[0].keyframe:
        raise ValueError("a clip must start at a keyframe")
    tb = info.time_base
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream(info.codec, rate=Fraction(info.fps).limit_denominator(1001))
        stream.width, stream.height = info.width, info.height
        stream.time_base = tb
        if info.extradata:
            stream.codec_context.extradata = info.extradata
        base = min(p.dts for p in packets)
        last_dts = None
        for p in packets:
            dts = p.dts - base
            if last_dts is not None and dts <= last_dts:
                dts = last_dts + 1  # the muxer needs strictly increasing dts
            last_dts = dts
            packet = av.Packet(p.data)
            packet.pts, packet.dts = max(p.pts - base, dts), dts
            packet.time_base = tb
            packet.stream = stream
            packet.is_keyframe = p.keyframe
            out.mux(packet)


def annotate(image: np.ndarray, *, zones: Sequence[Zone], boxes: Sequence[Sequence[float]],
             kind: str, confidence: float, caption: str,
             persons: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with the zones, the event's boxes and a caption drawn on it."""
    out = image.copy()
    scale = max(out.shape[1] / 640.0, 0.5)
    thick = max(int(round(2 * scale)), 1)
    for zone in zones:
        cv2.polylines(out, [zone.points], True, ZONE_COLOUR, thick)
        cv2.putText(out, zone.id, tuple(int(v) for v in zone.points[0] + [4, 16]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, ZONE_COLOUR, thick)
    if persons is not None:
        for x1, y1, x2, y2 in np.asarray(persons).reshape(-1, 4).astype(int):
            cv2.rectangle(out, (x1, y1), (x2, y2), (255, 200, 0), 1)
    colour = KIND_COLOURS.get(kind, (0, 0, 255))
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=float).reshape(-1, 4).astype(int):
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick + 1)
        cv2.putText(out, f"{kind} {confidence:.2f}", (x1, max(y1 - 6, 12)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55 * scale, colour, thick)
    cv2.rectangle(out, (0, 0), (out.shape[1], int(22 * scale)), (0, 0, 0), -1)
    cv2.putText(out, caption, (6, int(16 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                (255, 255, 255), thick)
    return out
