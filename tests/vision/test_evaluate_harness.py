"""bench/evaluate.py: the metrics, the perturbations, the truth-table run through the live
pipeline's code, and the run without the real-footage folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ev():
    spec = importlib.util.spec_from_file_location("lianqin_evaluate", ROOT / "bench" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["lianqin_evaluate"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_average_precision(ev) -> None:
    # two truths; hits at ranks 1 and 3: precision 1 at recall 0.5, 2/3 at recall 1
    ap = ev.average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert ev.average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0


def test_match_takes_each_truth_once(ev) -> None:
    truth = np.array([[0, 0, 10, 10]], np.float32)
    pred = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], np.float32)
    assert ev.match(pred, np.array([0.5, 0.9, 0.9]), truth).tolist() == [False, True, False]


@pytest.mark.parametrize("how", ["noise", "jpeg", "light", "shake"])
def test_perturbations_change_the_picture_but_not_its_size(ev, how: str) -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((90, 160, 3), np.uint8)
    cv2.rectangle(image, (40, 20), (120, 70), (200, 180, 90), -1)
    out = ev.perturb(image, how, 20.0, rng)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 0.1
    with pytest.raises(ValueError, match="unknown perturbation"):
        ev.perturb(image, "rain", 0.0, rng)


def test_truth_rows_run_through_scan_and_are_summarised(ev, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "empty.jpg"), np.full((240, 320, 3), 120, np.uint8))
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:02d}.jpg"), np.full((240, 320, 3), 120, np.uint8))
    (tmp_path / "truth.tsv").write_text(
        "# path\tkind\ttruth\tnote\n"
        "empty.jpg\tcrowd\tabsent\tan empty square\n"
        "seq\tsmoke\tabsent\t2 min apart\n"
        "seq\tdust\tabsent\tsame\n")
    rows = ev.read_truth(tmp_path)
    assert [r[0] for r in rows] == ["empty.jpg", "seq", "seq"]
    config = ev.configurations(None)["classical"]
    results = [ev.run_row(("classical", config, tmp_path, rel, kind, present, note,
                           ev.sequence_interval(note) if rel == "seq" else 1.0))
               for rel, kind, present, note in rows[:2]]
    assert all(r.correct and r.events == 0 for r in results)
    assert results[1].hours == pytest.approx(3 * 120 / 3600)
    table = ev.summarise_truth(results)
    assert table["classical"]["smoke"]["false_events_per_camera_hour"] == 0.0
    assert table["classical"]["crowd"]["correct_rows"] == 1


def test_without_the_real_footage_it_says_so_and_runs_the_synthetic_scenes(ev, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert ev.main(["--eval-dir", str(tmp_path / "none"), "--scenes", "quiet", "--perturb",
                    "shake", "--seconds", "12", "--jobs", "1", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "not found" in out and "synthetic: 1 runs, 0 missed, 0 with false events" in out
    assert out_json.exists()
