"""``lianqin model check | train | export`` on tiny models built offline (never downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import require

from lianqin.cli import build_parser


def run_cli(*argv: str) -> int:
    args = build_parser().parse_args(["model", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(importlib.util.find_spec("ultralytics") is not None,
            "ultralytics is not installed (pip install 'lianqin[yolo]')")
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("m") / "untrained.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def test_check_reports_an_untrained_model_as_broken(untrained: Path, capsys) -> None:
    assert run_cli("check", str(untrained), "--frames", "2", "--imgsz", "160") == 2
    out, err = capsys.readouterr()
    assert "classes (80)" in out and "ms per 1280x720 frame" in out
    assert "BROKEN" in err


@pytest.mark.parametrize("content", [None, b"not a model at all"])
def test_check_names_a_missing_or_damaged_file(tmp_path: Path, content: bytes | None,
                                               capsys) -> None:
    require(importlib.util.find_spec("ultralytics") is not None, "ultralytics missing")
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    assert run_cli("check", str(path)) == 1
    err = capsys.readouterr().err
    assert str(path) in err and ("not found" in err if content is None else "cannot load" in err)


def test_check_reads_a_model_card(untrained: Path, tmp_path: Path, capsys) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(f"name: t\nfile: {untrained}\nimgsz: 160\nclasses: {{'0': person}}\n")
    assert run_cli("check", str(card), "--frames", "1") == 2
    out = capsys.readouterr().out
    assert "0 0  -> person" in out and "classes (80)" in out and " 1 1" not in out


def squares(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i in range(n):
        image = np.zeros((64, 64, 3), np.uint8)
        x, y = rng.integers(4, 36, 2)
        image[y:y + 24, x:x + 24] = 255
        cv2.imwrite(str(folder / "images" / f"{i}.png"), image)
        (folder / "labels" / f"{i}.txt").write_text(
            f"0 {(x + 12) / 64:.4f} {(y + 12) / 64:.4f} {24 / 64:.4f} {24 / 64:.4f}\n")


def test_train_then_export(untrained: Path, tmp_path: Path, capsys) -> None:
    squares(tmp_path / "data", 4)
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path / 'data'}\ntrain: images\nval: images\nnames: {{0: square}}\n")
    assert run_cli("train", str(data), "--model", "yolo11n.yaml", "--epochs", "1",
                   "--imgsz", "64", "--batch", "4", "--workers", "0",
                   "--project", str(tmp_path / "runs"), "--no-val") == 0
    out = capsys.readouterr().out
    weights = Path(out.split("trained weights: ")[1].split()[0])
    assert weights.exists() and weights.suffix == ".pt"
    assert run_cli("export", str(weights), "--format", "torchscript", "--imgsz", "64") == 0
    assert weights.with_suffix(".torchscript").exists()


def test_train_refuses_a_missing_data_set(tmp_path: Path, capsys) -> None:
    assert run_cli("train", str(tmp_path / "none.yaml")) == 1
    assert "not found" in capsys.readouterr().err
