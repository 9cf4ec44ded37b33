"""The NumPy HOG port against reference values from OpenCV 4.14's HOGDescriptor."""

from __future__ import annotations

import numpy as np
import pytest

from camera_adapters.synthetic_draw import Look, draw_person
from vision.hog import (
    HogPeople,
    block_features,
    features_from_votes,
    orientation_votes,
    person_windows,
    window_scores,
)
from vision.hog_people_coef import default_people_detector

# cv2.HOGDescriptor().compute(pattern(128, 64)) and .detect(pattern(160, 96),
# hitThreshold=-100, winStride=(8, 8), padding=(0, 0)) with OpenCV 4.14.0
OPENCV_DESCRIPTOR_SUM = 493.4765625
OPENCV_DESCRIPTOR_NORM = 9.836723327636719
OPENCV_DESCRIPTOR_AT = {0: 0.2326478213071823, 100: 0.23999841511249542,
                        1000: 0.20667842030525208, 2000: 0.0, 3779: 0.135457843542099}
OPENCV_SCORES = [  # 5 x 5 window grid, row-major (y, then x)
    -1.03766, -3.93829, -4.55378, -2.47456, -2.2856,
    -2.11792, -5.02977, -4.86447, -2.77621, -2.65576,
    -2.7863, -4.84144, -4.97725, -3.30284, -2.61999,
    -2.87161, -4.57857, -4.63867, -3.04059, -2.71096,
    -3.32585, -4.1249, -4.34457, -3.06024, -2.59867,
]


def pattern(h: int, w: int) -> np.ndarray:
    """A deterministic textured image with a solid block, no RNG involved."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(37 * x + 91 * y + (x * y) % 17 * 7 + 53 * c) % 256 for c in range(3)],
                   axis=2).astype(np.uint8)
    img[20:100, 20:44] = (30, 60, 200)
    return img


def test_descriptor_matches_opencv() -> None:
    feats = block_features(pattern(128, 64))
    assert feats.shape == (15, 7, 36)
    desc = np.transpose(feats, (1, 0, 2)).ravel()  # OpenCV order: block x outer, y inner
    assert desc.sum() == pytest.approx(OPENCV_DESCRIPTOR_SUM, rel=1e-5)
    assert np.linalg.norm(desc) == pytest.approx(OPENCV_DESCRIPTOR_NORM, rel=1e-5)
    for index, value in OPENCV_DESCRIPTOR_AT.items():
        assert desc[index] == pytest.approx(value, abs=1e-5)


def test_window_scores_match_opencv() -> None:
    scores = window_scores(block_features(pattern(160, 96)), default_people_detector())
    assert scores.shape == (5, 5)
    np.testing.assert_allclose(scores.ravel(), OPENCV_SCORES, atol=1e-4)


def test_blocks_are_l2hys_normalised() -> None:
    feats = block_features(pattern(128, 64))
    norms = np.linalg.norm(feats, axis=2)
    assert np.all(norms <= 1.0 + 1e-5)
    assert feats.min() >= 0.0


@pytest.mark.parametrize(("stride", "moving"), [(8, True), (4, True), (4, False)])
def test_finds_a_drawn_person_and_nothing_on_a_plain_wall(stride: int, moving: bool) -> None:
    wall = np.full((240, 200, 3), (150, 160, 170), np.uint8)
    assert len(HogPeople(1.1, 1.6, stride=stride).scan(wall).scores) == 0
    img = wall.copy()
    look = Look((40, 40, 200), (40, 30, 25), (120, 160, 215), (20, 20, 25), 1.0)
    draw_person(img, 100, 200, 110, look, phase=0.8, moving=moving)
    hits = HogPeople(1.05, 1.6, stride=stride).scan(img)
    assert len(hits.scores) > 0
    best = hits.xyxy[np.argmax(hits.scores)]
    cx, bottom = (best[0] + best[2]) / 2, best[3]
    assert abs(cx - 100) < 20 and abs(bottom - 200) < 30


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="scale_step"):
        HogPeople(scale_step=1.0)
    with pytest.raises(ValueError, match="stride"):
        HogPeople(stride=3)


def test_half_cell_grid_blocks_are_the_cell_grid_blocks_shifted_by_four_pixels() -> None:
    votes = orientation_votes(pattern(160, 96))
    half = features_from_votes(votes, stride=4)
    for dy in (0, 4):
        for dx in (0, 4):
            np.testing.assert_allclose(half[dy // 4::2, dx // 4::2],
                                       features_from_votes(votes[:, dy:, dx:]), atol=1e-6)


def test_scores_on_the_half_cell_grid_include_the_cell_grid_scores() -> None:
    coef = default_people_detector()
    img = pattern(200, 120)
    half = window_scores(block_features(img, stride=4), coef, step=2)
    np.testing.assert_allclose(half[::2, ::2], window_scores(block_features(img), coef),
                               atol=1e-4)


def test_person_windows_undo_the_box_margins() -> None:
    window = np.array([[10.0, 20.0, 74.0, 148.0]], np.float32)  # a 64x128 window
    box = window + np.array([16, 16, -16, -16], np.float32)  # its tight person box
    np.testing.assert_allclose(person_windows(box), window)


def test_grainy_frames_are_smoothed_before_the_people_search() -> None:
    """Sensor noise (σ 6) breaks the gradients HOG reads and hides people; the detector
    measures the grain and blurs it away first, and finds about as many as on a clean frame."""
    from camera_adapters.synthetic import SyntheticSource, SyntheticSourceConfig
    from vision.config import CrowdDetectorConfig
    from vision.imageops import noise_sigma
    from vision.people import HogPersonDetector

    cfg = SyntheticSourceConfig(scene="crowd", fps=1, realtime=False, onset_s=2, seed=0)
    frames = []
    with SyntheticSource("c", cfg) as src:
        while (frame := src.read()) is not None and frame.ts <= 36:
            if frame.ts >= 30:
                frames.append(frame.image)
    rng = np.random.default_rng(0)
    grainy = [np.clip(f + rng.normal(0, 6.0, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert all(noise_sigma(f) < 1.5 for f in frames) and all(noise_sigma(f) > 3 for f in grainy)
    plain = HogPersonDetector(CrowdDetectorConfig(hog_denoise_above=None))
    denoised = HogPersonDetector(CrowdDetectorConfig())
    clean = [len(plain.detect(f)) for f in frames]
    raw = [len(plain.detect(f)) for f in grainy]
    smoothed = [len(denoised.detect(f)) for f in grainy]
    assert sum(smoothed) > sum(raw), (clean, raw, smoothed)
    assert sum(smoothed) >= 0.9 * sum(clean), (clean, raw, smoothed)
    assert [len(denoised.detect(f)) for f in frames] == clean  # clean frames untouched
