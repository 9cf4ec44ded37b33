"""Histogram-of-oriented-gradients person detection (Dalal & Triggs, CVPR 2005).

OpenCV 5 no longer ships ``cv2.HOGDescriptor`` in its main modules, so this module
computes OpenCV's default HOG descriptor itself, following ``modules/objdetect/src/hog.cpp``
of OpenCV 4.x step by step, and scores it with the default people SVM
(:mod:`vision.hog_people_coef`):

- gamma correction (square root of each channel), centred [-1, 0, 1] derivatives per
  channel, the channel with the strongest gradient wins;
- 9 unsigned orientation bins, each vote split linearly between the two nearest bins;
- 16x16 blocks on an 8-pixel grid, each a 2x2 grid of 8x8 cells; a pixel's vote is
  weighted by a Gaussian (sigma 4) centred on the block and split bilinearly between the
  cells around it; L2-Hys normalisation (clip at 0.2) per block;
- a 64x128 window of 7x15 blocks scored by a linear SVM, slid in 8-pixel steps over an
  image pyramid.

Rather than recomputing each block, per-cell weighted sums (moments) are computed once per
pyramid level with matrix products and combined into blocks, which makes a 640x360 frame
cost tens of milliseconds on one core. Descriptors agree with OpenCV 4.14's to within its
fast-arctangent rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.hog_people_coef import default_people_detector

CELL = 8  # pixels per cell side (OpenCV default)
NBINS = 9  # unsigned orientation bins of 20 degrees
BLOCKS_X, BLOCKS_Y = 7, 15  # blocks in a 64x128 window at an 8-pixel stride
WIN_W, WIN_H = 64, 128
BLOCK_SIGMA = 4.0  # OpenCV's winSigma default: (block width + height) / 8
L2HYS_CLIP = 0.2  # L2-Hys threshold of Dalal & Triggs
# Inside its 64x128 window the INRIA person occupies about the central 32x96 pixels
# (16-pixel margins), so boxes are shrunk by these fractions to hug the person.
MARGIN_X, MARGIN_Y = 0.25, 0.125

# bin index of (lower bin + 1 + i) modulo NBINS for i = 0, 1: lower bins run from -1 to 17
_BIN_WRAP = (np.arange(-1, 2 * NBINS + 1) % NBINS).astype(np.int32)
_GAMMA_LUT = np.sqrt(np.arange(256, dtype=np.float32)).reshape(1, 256)


def _subcell_weights() -> np.ndarray:
    """(4, 8) weights: row ``c * 2 + s`` weighs pixel p of sub-cell s for histogram cell c.

    Combines OpenCV's Gaussian block window exp(-(u - 8)^2 / (2 sigma^2)) with the tent
    weight max(0, 1 - |(u + 0.5) / 8 - 0.5 - c|) that splits a pixel between cells.
    """
    u = np.arange(2 * CELL, dtype=np.float64)
    gauss = np.exp(-((u - CELL) ** 2) / (2 * BLOCK_SIGMA**2))
    rows = []
    for c in (0, 1):
        tent = np.maximum(0.0, 1.0 - np.abs((u + 0.5) / CELL - 0.5 - c))
        w = gauss * tent
        rows.extend([w[:CELL], w[CELL:]])  # sub-cell s = 0, 1
    return np.asarray(rows, dtype=np.float32)


_SUBCELL = _subcell_weights()


def orientation_votes(image: np.ndarray) -> np.ndarray:
    """(NBINS, H, W) float32 gradient-magnitude votes, split between neighbouring bins."""
    f = cv2.LUT(image, _GAMMA_LUT) if image.dtype == np.uint8 else np.sqrt(
        image.astype(np.float32))
    dx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=1)
    dy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=1)
    if f.ndim == 3:  # OpenCV's order: red, then green, then blue wins if strictly stronger
        mag2 = dx * dx + dy * dy
        bx, by, bm = dx[..., 2], dy[..., 2], mag2[..., 2]
        for c in (1, 0):
            sel = mag2[..., c] > bm
            bx = np.where(sel, dx[..., c], bx)
            by = np.where(sel, dy[..., c], by)
            bm = np.where(sel, mag2[..., c], bm)
        dx, dy = bx, by
    mag, ang = cv2.cartToPolar(dx, dy)
    pos = ang * np.float32(NBINS / np.pi) - np.float32(0.5)
    lo_f = np.floor(pos)
    upper = mag * (pos - lo_f)
    k = lo_f.astype(np.int32).reshape(-1) + 1  # lower bin + 1, in [0, 18]
    lo, hi = _BIN_WRAP[k], _BIN_WRAP[k + 1]  # angles in [pi, 2 pi) fold onto [0, pi)
    n = mag.size
    votes = np.zeros(NBINS * n, np.float32)
    idx = np.arange(n, dtype=np.int32)
    votes[lo * n + idx] = (mag - upper).reshape(-1)
    votes[hi * n + idx] = upper.reshape(-1)
    return votes.reshape(NBINS, *mag.shape)


def block_features(image: np.ndarray) -> np.ndarray:
    """(blocks_y, blocks_x, 36) L2-Hys normalised block histograms on the 8-pixel grid.

    Feature order within a block is OpenCV's: cell (cx, cy) at ``(cx * 2 + cy) * 9``.
    """
    return features_from_votes(orientation_votes(image))


def features_from_votes(votes: np.ndarray) -> np.ndarray:
    """Block histograms from :func:`orientation_votes` (cells start at the votes' origin)."""
    hc, wc = votes.shape[1] // CELL, votes.shape[2] // CELL
    v = votes[:, : hc * CELL, : wc * CELL].reshape(NBINS, hc, CELL, wc, CELL)
    tx = v @ _SUBCELL.T  # (9, hc, 8, wc, 4): weighted sums over x inside each cell
    moments = np.einsum("byqxk,jq->bjkyx", tx, _SUBCELL, optimize=True)  # (9, 4y, 4x, hc, wc)
    nby, nbx = hc - 1, wc - 1
    hist = np.zeros((nby, nbx, 2, 2, NBINS), np.float32)  # [.., cx, cy, bin]
    for cx in (0, 1):
        for cy in (0, 1):
            acc = np.zeros((NBINS, nby, nbx), np.float32)
            for sx in (0, 1):
                for sy in (0, 1):
                    m = moments[:, cy * 2 + sy, cx * 2 + sx]
                    acc += m[:, sy: sy + nby, sx: sx + nbx]
            hist[:, :, cx, cy, :] = np.moveaxis(acc, 0, -1)
    hist = hist.reshape(nby, nbx, 4 * NBINS)
    norm = np.sqrt((hist * hist).sum(-1, keepdims=True)) + 0.1 * hist.shape[-1]
    hist = np.minimum(hist / norm, L2HYS_CLIP)
    return hist / (np.sqrt((hist * hist).sum(-1, keepdims=True)) + 1e-3)


def window_scores(features: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """SVM score of every 64x128 window whose top-left block is at (by, bx)."""
    nby, nbx = features.shape[:2]
    oy, ox = nby - BLOCKS_Y + 1, nbx - BLOCKS_X + 1
    if oy <= 0 or ox <= 0:
        return np.zeros((0, 0), np.float32)
    weights = coef[:-1].reshape(BLOCKS_X, BLOCKS_Y, 4 * NBINS)  # OpenCV: x outer, y inner
    scores = np.full((oy, ox), coef[-1], np.float32)
    for j in range(BLOCKS_X):
        for i in range(BLOCKS_Y):
            scores += features[i: i + oy, j: j + ox] @ weights[j, i]
    return scores


@dataclass(frozen=True, slots=True)
class HogHits:
    """Raw window hits of a pyramid scan: tight person boxes (x1, y1, x2, y2) and SVM scores."""

    xyxy: np.ndarray
    scores: np.ndarray


class HogPeople:
    """Multi-scale HOG person scanner with OpenCV's default people SVM.

    Example:
        >>> hits = HogPeople().scan(np.zeros((200, 100, 3), np.uint8))
        >>> len(hits.scores)
        0
    """

    def __init__(self, scale_step: float = 1.05, max_scale: float = 2.0,
                 hit_threshold: float = 0.0, stride: int = CELL) -> None:
        if scale_step <= 1.0:
            raise ValueError(f"scale_step must be > 1, got {scale_step}")
        if stride not in (CELL, CELL // 2):
            raise ValueError(f"stride must be {CELL} or {CELL // 2} pixels, got {stride}")
        self.scale_step = scale_step
        self.max_scale = max_scale
        self.hit_threshold = hit_threshold
        self.stride = stride
        self._coef = default_people_detector()

    def scan(self, image: np.ndarray, upscale: float = 1.0) -> HogHits:
        """Score windows over a pyramid from ``upscale`` down to 1/``max_scale``."""
        h, w = image.shape[:2]
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        scale = 1.0 / upscale
        while scale <= self.max_scale / upscale + 1e-6:
            sw, sh = round(w / scale), round(h / scale)
            if sw < WIN_W or sh < WIN_H:
                break
            level = image if (sw, sh) == (w, h) else cv2.resize(
                image, (sw, sh), interpolation=cv2.INTER_LINEAR)
            votes = orientation_votes(level)
            for dy in range(0, CELL, self.stride):  # a 4-pixel stride scans 4 grid phases
                for dx in range(0, CELL, self.stride):
                    self._scan_level(votes[:, dy:, dx:], scale, dx, dy, boxes, scores)
            scale *= self.scale_step
        if not boxes:
            return HogHits(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))
        return HogHits(np.concatenate(boxes).astype(np.float32),
                       np.concatenate(scores).astype(np.float32))

    def _scan_level(self, votes: np.ndarray, scale: float, dx: int, dy: int,
                    boxes: list[np.ndarray], scores: list[np.ndarray]) -> None:
        s = window_scores(features_from_votes(votes), self._coef)
        ys, xs = np.nonzero(s > self.hit_threshold)
        if len(ys) == 0:
            return
        x1 = (xs * CELL + dx + MARGIN_X * WIN_W) * scale
        y1 = (ys * CELL + dy + MARGIN_Y * WIN_H) * scale
        x2 = x1 + (1 - 2 * MARGIN_X) * WIN_W * scale
        y2 = y1 + (1 - 2 * MARGIN_Y) * WIN_H * scale
        boxes.append(np.stack([x1, y1, x2, y2], axis=1))
        scores.append(s[ys, xs])
