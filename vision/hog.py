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
- a 64x128 window of 7x15 blocks scored by a linear SVM, slid in 8-pixel (or 4-pixel)
  steps over an image pyramid.

Rather than recomputing each block, each pyramid level's votes are reduced once, per
4-pixel quarter and separably (rows, then columns), by matrix products to the weighted
sums every block needs; a block adds its quarters' sums. The blocks half a cell off the
cell grid (a 4-pixel stride) thus cost no second pass over the pixels. Scoring is one
matrix product of all blocks with the SVM's 105 block weights, then shifted additions.
Descriptors agree with OpenCV 4.14's to within its fast-arctangent rounding.
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

QUARTER, QUARTERS = CELL // 2, 4  # a block side is 4 quarters of 4 pixels

# bin index of (lower bin + 1 + i) modulo NBINS for i = 0, 1: lower bins run from -1 to 17
_BIN_WRAP = (np.arange(-1, 2 * NBINS + 1) % NBINS).astype(np.int32)
_GAMMA_LUT = np.sqrt(np.arange(256, dtype=np.float32)).reshape(1, 256)


def _quarter_weights() -> np.ndarray:
    """(4, 8) weights: column ``c * 4 + q`` weighs pixel p of quarter q (4 pixels) of a block
    side for histogram cell c, the same along x and along y.

    Combines OpenCV's Gaussian block window exp(-(u - 8)^2 / (2 sigma^2)) with the tent
    weight max(0, 1 - |(u + 0.5) / 8 - 0.5 - c|) that splits a pixel between cells.
    """
    u = np.arange(2 * CELL, dtype=np.float64)
    gauss = np.exp(-((u - CELL) ** 2) / (2 * BLOCK_SIGMA**2))
    cols = []
    for c in (0, 1):
        tent = np.maximum(0.0, 1.0 - np.abs((u + 0.5) / CELL - 0.5 - c))
        cols.append((gauss * tent).reshape(QUARTERS, QUARTER).T)  # (p, q)
    return np.concatenate(cols, axis=1).astype(np.float32)


_QUARTER_W = _quarter_weights()
_KX = np.array([[-1.0, 0.0, 1.0]], np.float32)  # centred derivative, as OpenCV's HOG


def orientation_votes(image: np.ndarray) -> np.ndarray:
    """(NBINS, H, W) float32 gradient-magnitude votes, split between neighbouring bins."""
    f = cv2.LUT(image, _GAMMA_LUT) if image.dtype == np.uint8 else np.sqrt(
        image.astype(np.float32))
    dx = cv2.filter2D(f, cv2.CV_32F, _KX)  # = Sobel ksize 1, reflect-101 border, faster
    dy = cv2.filter2D(f, cv2.CV_32F, _KX.T)
    if f.ndim == 3:
        dx, dy = _strongest_channel(dx, dy)
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


def _strongest_channel(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the derivatives of the channel with the largest gradient, in OpenCV's
    order: red, then green, then blue wins only if strictly stronger."""
    mb, mg, mr = cv2.split(cv2.add(cv2.multiply(dx, dx), cv2.multiply(dy, dy)))
    green = cv2.compare(mg, mr, cv2.CMP_GT)
    blue = cv2.compare(mb, cv2.max(mr, mg), cv2.CMP_GT)
    (xb, xg, xr), (yb, yg, yr) = cv2.split(dx), cv2.split(dy)
    for x, y, sel in ((xg, yg, green), (xb, yb, blue)):
        cv2.copyTo(x, sel, xr)
        cv2.copyTo(y, sel, yr)
    return xr, yr


def block_features(image: np.ndarray, stride: int = CELL) -> np.ndarray:
    """(blocks_y, blocks_x, 36) L2-Hys normalised block histograms on a ``stride``-pixel grid.

    Feature order within a block is OpenCV's: cell (cx, cy) at ``(cx * 2 + cy) * 9``.
    """
    return features_from_votes(orientation_votes(image), stride)


def _quarter_sums(votes: np.ndarray, step: int) -> np.ndarray:
    """Weighted vote sums of the blocks on a grid of ``step`` quarters (4 pixels each):
    (9, by, 2 [cy], bx, 2 [cx]).

    Separable: along y, each 4-row quarter is reduced by one matrix product to its 8
    weighted sums (2 cells x 4 positions of the quarter in a block) and a block row adds
    its 4 quarters' sums; then the same along x. Each pixel is weighed once for all four
    phases of the 4-pixel grid.
    """
    nq_y, nq_x = votes.shape[1] // QUARTER, votes.shape[2] // QUARTER
    v = votes[:, : nq_y * QUARTER, : nq_x * QUARTER].reshape(NBINS * nq_y, QUARTER, -1)
    ry = (_QUARTER_W.T @ v).reshape(NBINS, nq_y, 2, QUARTERS, nq_x * QUARTER)
    ty = _add_quarters(ry, 1, 3, step)  # (9, by, 2 cy, W)
    rx = (ty.reshape(-1, QUARTER) @ _QUARTER_W).reshape(*ty.shape[:3], nq_x, 2, QUARTERS)
    return _add_quarters(rx, 3, 5, step)


def _add_quarters(sums: np.ndarray, axis: int, quarter_axis: int, step: int) -> np.ndarray:
    """Block sums from per-quarter sums: quarter q of the block starting at quarter i is
    quarter i + q along ``axis``, weighed as position q (``quarter_axis``, dropped); blocks
    start every ``step`` quarters."""
    n = sums.shape[axis] - QUARTERS + 1
    parts = []
    for q in range(QUARTERS):
        index = [slice(None)] * sums.ndim
        index[axis], index[quarter_axis] = slice(q, q + n, step), q
        parts.append(sums[tuple(index)])
    total = parts[0] + parts[1]
    for part in parts[2:]:
        total += part
    return total


def features_from_votes(votes: np.ndarray, stride: int = CELL) -> np.ndarray:
    """Block histograms from :func:`orientation_votes` on a ``stride``-pixel grid (8: the
    cell grid; 4: also the blocks half a cell off it), starting at the votes' origin."""
    if stride not in (CELL, QUARTER):
        raise ValueError(f"stride must be {CELL} or {QUARTER} pixels, got {stride}")
    sums = _quarter_sums(votes, stride // QUARTER)
    nby, nbx = sums.shape[1], sums.shape[3]
    hist = sums.transpose(1, 3, 4, 2, 0).reshape(nby, nbx, 4 * NBINS)  # [.., cx, cy, bin]
    hist = np.minimum(hist / (_l2(hist) + np.float32(0.1 * hist.shape[-1])),
                      np.float32(L2HYS_CLIP))
    return hist / (_l2(hist) + np.float32(1e-3))


def _l2(hist: np.ndarray) -> np.ndarray:
    """Euclidean norm of each block (last axis), kept as a trailing axis of 1."""
    return np.sqrt(np.einsum("yxk,yxk->yx", hist, hist))[..., None]


def window_scores(features: np.ndarray, coef: np.ndarray, step: int = 1) -> np.ndarray:
    """SVM score of every 64x128 window whose top-left block is at (by, bx).

    ``step`` is the spacing of a window's blocks in feature rows (1 for features on the
    cell grid, 2 on the 4-pixel grid). One matrix product gives every block's contribution
    to each of the 7x15 window positions it can take; a window adds its 105 blocks'.
    """
    nby, nbx = features.shape[:2]
    oy, ox = nby - step * (BLOCKS_Y - 1), nbx - step * (BLOCKS_X - 1)
    if oy <= 0 or ox <= 0:
        return np.zeros((0, 0), np.float32)
    weights = coef[:-1].reshape(BLOCKS_X * BLOCKS_Y, 4 * NBINS)  # OpenCV: x outer, y inner
    parts = (weights @ features.reshape(-1, 4 * NBINS).T).reshape(BLOCKS_X, BLOCKS_Y, nby, nbx)
    scores = np.full((oy, ox), coef[-1], np.float32)
    for j in range(BLOCKS_X):
        for i in range(BLOCKS_Y):
            scores += parts[j, i, step * i: step * i + oy, step * j: step * j + ox]
    return scores


def person_windows(xyxy: np.ndarray) -> np.ndarray:
    """The HOG windows (x1, y1, x2, y2) around tight person boxes: the inverse of the
    margins taken off a window's box."""
    w = (xyxy[:, 2] - xyxy[:, 0]) / (1 - 2 * MARGIN_X)
    h = (xyxy[:, 3] - xyxy[:, 1]) / (1 - 2 * MARGIN_Y)
    pad = np.stack([MARGIN_X * w, MARGIN_Y * h], axis=1)
    return xyxy + np.concatenate([-pad, pad], axis=1)


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
            self._scan_level(level, scale, boxes, scores)
            scale *= self.scale_step
        if not boxes:
            return HogHits(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))
        return HogHits(np.concatenate(boxes).astype(np.float32),
                       np.concatenate(scores).astype(np.float32))

    def _scan_level(self, level: np.ndarray, scale: float,
                    boxes: list[np.ndarray], scores: list[np.ndarray]) -> None:
        features = block_features(level, self.stride)
        s = window_scores(features, self._coef, step=CELL // self.stride)
        ys, xs = np.nonzero(s > self.hit_threshold)
        if len(ys) == 0:
            return
        x1 = (xs * self.stride + MARGIN_X * WIN_W) * scale
        y1 = (ys * self.stride + MARGIN_Y * WIN_H) * scale
        x2 = x1 + (1 - 2 * MARGIN_X) * WIN_W * scale
        y2 = y1 + (1 - 2 * MARGIN_Y) * WIN_H * scale
        boxes.append(np.stack([x1, y1, x2, y2], axis=1))
        scores.append(s[ys, xs])
