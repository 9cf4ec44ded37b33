"""Small image helpers shared by the classical detectors: working resolution, block
statistics, time constants, region extraction and box scaling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import REPORT_FLOOR
from vision.types import Detections

WORK_WIDTH = 320  # classical cues are computed at this width: detail finer than 2 px of a
# 640-wide frame carries no smoke/dust/stall evidence, and it keeps each detector ~10 ms
BLOCK = 8  # block side (work pixels) over which cues are pooled: 16 px at 640 wide
GLOBAL_BLOCK_CHANGE = 8.0  # mean grey-level change of a block that counts as changed
GLOBAL_CHANGE_SHARE = 0.5  # when this share of blocks changed at once, the view moved
MAX_DT_S = 5.0  # a longer gap between frames (stall, reconnect) is treated as this long


def work_frame(image: np.ndarray, mask: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Downscale to WORK_WIDTH (never up); returns (image, mask, original/work scale).

    The work size is rounded down to whole blocks so block statistics tile exactly.
    """
    h, w = image.shape[:2]
    scale = max(w / WORK_WIDTH, 1.0)
    ww = max(int(w / scale) // BLOCK * BLOCK, BLOCK)
    wh = max(int(h / scale) // BLOCK * BLOCK, BLOCK)
    small = cv2.resize(image, (ww, wh), interpolation=cv2.INTER_AREA)
    small_mask = None
    if mask is not None:
        small_mask = cv2.resize(mask, (ww, wh), interpolation=cv2.INTER_NEAREST)
    return small, small_mask, w / ww


def block_mean(values: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Mean over non-overlapping ``block`` x ``block`` tiles (sizes must be multiples)."""
    h, w = values.shape[:2]
    return cv2.resize(values.astype(np.float32), (w // block, h // block),
                      interpolation=cv2.INTER_AREA)


def to_pixels(block_map: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Expand a block map back to work pixels (nearest)."""
    return np.repeat(np.repeat(block_map, block, axis=0), block, axis=1)


def rate(dt: float, tau: float) -> float:
    """Update weight of an exponential moving average with time constant ``tau`` seconds."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


def chroma(image: np.ndarray) -> np.ndarray:
    """max(B, G, R) - min(B, G, R) per pixel (float32): 0 for greys."""
    img = image.astype(np.float32)
    return img.max(axis=2) - img.min(axis=2)


def edge_energy(gray: np.ndarray) -> np.ndarray:
    """High-frequency energy |I - G_sigma * I|: the detail band of a one-level
    wavelet-like decomposition, which fades where smoke or haze covers texture."""
    return np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 1.2))


@dataclass(frozen=True, slots=True)
class Region:
    """A connected region of a block map: its box (block units, exclusive end) and mask."""

    x1: int
    y1: int
    x2: int
    y2: int
    mask: np.ndarray  # bool, full block-map size

    @property
    def area(self) -> int:
        return int(self.mask.sum())


def regions(binary: np.ndarray, min_area: int, bridge: int = 0) -> list[Region]:
    """8-connected components of a boolean map with at least ``min_area`` cells.

    ``bridge`` > 0 first closes gaps of up to 2 * bridge cells (morphological closing), so
    a cloud split by an occluding object stays one region.
    """
    cells = binary.astype(np.uint8)
    if bridge > 0:
        kernel = np.ones((2 * bridge + 1, 2 * bridge + 1), np.uint8)
        cells = cv2.morphologyEx(cells, cv2.MORPH_CLOSE, kernel) | cells
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cells, 8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area:
            out.append(Region(int(x), int(y), int(x + w), int(y + h), labels == i))
    return out


VEIL_WIDTH = 0.6  # a region this wide (share of the view) hanging from the top edge is a
# weather veil (low cloud, fog bank), not a plume: smoke and dust rise from a source


def is_veil(reg: Region, shape: tuple[int, int]) -> bool:
    """Whether a region hangs from the top edge across most of the view's width."""
    return reg.y1 == 0 and (reg.x2 - reg.x1) >= VEIL_WIDTH * shape[1]


def boxes_to_image(boxes: list[tuple[float, float, float, float]], scale: float,
                   width: int, height: int) -> np.ndarray:
    """(n, 4) float32 boxes scaled by ``scale`` and clipped to the image."""
    if not boxes:
        return np.zeros((0, 4), np.float32)
    arr = np.asarray(boxes, np.float32) * scale
    arr[:, [0, 2]] = arr[:, [0, 2]].clip(0, width)
    arr[:, [1, 3]] = arr[:, [1, 3]].clip(0, height)
    return arr


def region_detections(scored: list[tuple[Region, float]], scale: float, frame: Frame,
                      min_confidence: float, **extra: np.ndarray) -> Detections:
    """Block regions with their scores as detections in the frame's pixels, those scoring
    below ``REPORT_FLOOR`` of ``min_confidence`` left out; each row carries the threshold
    (and the per-region ``extra`` columns, indexed like ``scored``)."""
    keep = [i for i, (_, score) in enumerate(scored) if score >= min_confidence * REPORT_FLOOR]
    if not keep:
        return Detections.empty()
    boxes = [(r.x1 * BLOCK, r.y1 * BLOCK, r.x2 * BLOCK, r.y2 * BLOCK)
             for r, _ in (scored[i] for i in keep)]
    scores = np.asarray([scored[i][1] for i in keep], np.float32)
    data = {"threshold": np.full(len(keep), min_confidence, np.float32)}
    data |= {k: np.asarray(v)[keep] for k, v in extra.items()}
    return Detections(boxes_to_image(boxes, scale, frame.width, frame.height), scores, data)


def frame_dt(last_ts: float | None, ts: float) -> float:
    """Seconds since the previous analysed frame, bounded to (0, MAX_DT_S]."""
    if last_ts is None:
        return 0.0
    return float(min(max(ts - last_ts, 1e-3), MAX_DT_S))


JITTER_PX = 1  # work pixels (2 px of a 640-wide frame) of camera shake tolerated


def tolerant_diff(a: np.ndarray, b: np.ndarray, radius: int = JITTER_PX) -> np.ndarray:
    """|a - b| allowing ``b`` to be shifted by up to ``radius`` pixels: the smallest
    difference over the shifts. A shaking camera (a pole in the wind) moves edges by a
    pixel or two, which a plain difference takes for change; smoke, dust and objects
    change the intensity itself, which no small shift explains away.

    >>> edge = np.zeros((4, 6), np.float32); edge[:, 3:] = 100
    >>> moved = np.zeros((4, 6), np.float32); moved[:, 4:] = 100  # one pixel to the right
    >>> float(tolerant_diff(moved, edge).max()), float(np.abs(moved - edge).max())
    (0.0, 100.0)
    """
    padded = cv2.copyMakeBorder(b, radius, radius, radius, radius, cv2.BORDER_REPLICATE)
    h, w = a.shape[:2]
    best: np.ndarray | None = None
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            d = cv2.absdiff(a, padded[dy:dy + h, dx:dx + w])
            best = d if best is None else np.minimum(best, d, out=best)
    assert best is not None
    return best


NOISE_K = 2.0  # a frame difference this many noise sigmas strong stands out of the noise
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(image: np.ndarray) -> float:
    """Sensor noise of one picture, in grey levels: Immerkær's Laplacian-difference
    operator ("Fast noise variance estimation", CVIU 1996), which cancels smooth shading
    and leaves 6 sigma of white noise, with a median instead of the mean so that edges and
    texture count less. Motion between frames does not enter it.

    >>> flat = np.full((60, 80, 3), 100, np.uint8)
    >>> noise_sigma(flat)
    0.0
    >>> grain = np.random.default_rng(0).normal(100, 8, (60, 80)).clip(0, 255).astype(np.uint8)
    >>> 7 < noise_sigma(np.dstack([grain] * 3)) < 9
    True
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    lap = cv2.filter2D(gray.astype(np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(1.4826 * np.median(np.abs(lap)) / 6.0)


def noise_floor(gray: np.ndarray) -> float:
    """The difference between two frames that sensor noise alone reaches: ``NOISE_K``
    sigmas of a difference of two noisy frames (sqrt 2 x the picture's noise). Turbulence
    must stand out of it.

    >>> grain = np.random.default_rng(0).normal(100, 6, (90, 160)).astype(np.float32)
    >>> 15 < noise_floor(grain) < 19  # 2 x 8.5
    True
    """
    return NOISE_K * math.sqrt(2.0) * noise_sigma(gray)


def view_moved(gray: np.ndarray, prev_gray: np.ndarray) -> bool:
    """True when most of the frame changed since the previous analysed frame.

    A PTZ move, a shaking or hand-held camera, an auto-exposure jump: background models
    are meaningless across such a change and must be learnt again. Events (smoke, dust,
    a stall, a crowd) change a part of the view, not most of it.
    """
    changed = block_mean(np.abs(gray - prev_gray)) > GLOBAL_BLOCK_CHANGE
    return float(changed.mean()) >= GLOBAL_CHANGE_SHARE
