"""Browser-playable clips: Chromium plays H.264 (and VP8/VP9/AV1) in MP4 or WebM; cameras
may record H.265 or MPEG-4 Part 2. Such a clip gets an H.264 rendition beside it, made once
(the original, cut by stream copy, stays the evidence of record)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av

PLAYABLE = frozenset({"h264", "vp8", "vp9", "av1"})
_lock = threading.Lock()


def video_codec(path: Path) -> str | None:
    with av.open(str(path)) as container:
        stream = next(iter(container.streams.video), None)
        return stream.codec_context.name if stream is not None else None


def playable(path: Path) -> Path:
    """``path`` if Chromium plays it, else its H.264 rendition (made on first call)."""
    if video_codec(path) in PLAYABLE:
        return path
    target = path.with_name(path.stem + ".web.mp4")
    with _lock:
        if not target.exists():
            _transcode(path, target)
    return target


def _transcode(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with av.open(str(source)) as src, av.open(str(partial), "w", format="mp4",
                                                    options={"movflags": "+faststart"}) as dst:
        vin = src.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        out = dst.add_stream("libx264", rate=rate)
        out.width, out.height = vin.codec_context.width, vin.codec_context.height
        out.pix_fmt = "yuv420p"
        out.options = {"preset": "veryfast", "crf": "23"}
        for frame in src.decode(vin):
            frame.pts = None
            for packet in out.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in out.encode(None):
            dst.mux(packet)
    partial.replace(target)
