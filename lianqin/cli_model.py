"""``lianqin model``: check, train and export YOLO models (ultralytics), all offline.

- ``check FILE`` loads a model file (or a model card), lists its classes (and the roles the
  card gives them), times inference per frame on probe frames (the synthetic scenes, or
  ``--images``), and reports a model that never scores above ``BROKEN_SCORE`` on any probe
  frame as broken (untrained or damaged weights load fine but find nothing).
- ``train DATA.yaml`` trains on the user's YOLO-format data set (``--model`` a local
  ``.pt`` to fine-tune, or an architecture ``.yaml`` to train from scratch), printing
  ultralytics' per-epoch progress; plots are off (they would fetch a font).
- ``export FILE --format onnx|openvino|torchscript`` converts a model for deployment.

Nothing is downloaded: ``YOLO_OFFLINE=1`` and no ultralytics default weights are named.
Exit status 0 on success, 1 on a missing or unreadable file or bad arguments, 2 when a
model is broken.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BROKEN_SCORE = 0.001  # a model whose best score on every probe frame stays below this is
# reported broken: an untrained YOLO head scores ~1e-4 everywhere
PROBE_SCENES = ("crowd", "stall", "smoke", "dust")  # synthetic frames with people, objects


def _probe_frames(images: Path | None, count: int) -> list[np.ndarray]:
    if images is not None:
        import cv2

        from camera_adapters.file import list_images

        paths = list_images(images)[:count]
        return [cv2.imread(str(p)) for p in paths]
    from camera_adapters.synthetic import make_scene

    frames = []
    for i in range(count):
        scene = make_scene(PROBE_SCENES[i % len(PROBE_SCENES)], width=1280, height=720, onset_s=0)
        frames.append(scene.render(20.0 + i))
    return frames


def _load(path: Path) -> tuple[Any, Any]:
    """(ultralytics model, model card or None) for a model file or a model card."""
    from vision.yolo import ModelCard, load_yolo

    card = None
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")
        if "classes:" in text and "file:" in text:
            card = ModelCard.load(path)
            path = card.file
    return load_yolo(path, "lianqin model"), card


def cmd_check(args: argparse.Namespace) -> int:
    from vision.yolo import ModelCardError

    try:
        model, card = _load(args.file)
    except (FileNotFoundError, ValueError, ModelCardError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    names = {int(k): str(v) for k, v in (getattr(model, "names", {}) or {}).items()}
    roles = {c.lower(): r for c, r in card.classes.items()} if card is not None else {}
    print(f"model: {card.file if card else args.file}")
    print(f"classes ({len(names)}):")
    for cid, name in sorted(names.items()):
        role = roles.get(name.lower())
        if card is None or role is not None or args.all_classes:
            print(f"  {cid:3d} {name}" + (f"  -> {', '.join(role)}" if role else ""))
    imgsz = args.imgsz or (card.imgsz if card is not None else 640)
    frames = _probe_frames(args.images, args.frames)
    if not frames:
        print(f"error: no probe images in {args.images}", file=sys.stderr)
        return 1
    best, times = 0.0, []
    try:
        model.predict(frames[0], imgsz=imgsz, conf=0.0, device=args.device, verbose=False)
        for image in frames:
            started = time.perf_counter()
            result = model.predict(image, imgsz=imgsz, conf=0.0, device=args.device,
                                   verbose=False, save=False)[0]
            times.append((time.perf_counter() - started) * 1000)
            if result.boxes is not None and len(result.boxes):
                best = max(best, float(result.boxes.conf.max()))
    except Exception as exc:  # a model that loads but cannot run is broken too
        print(f"error: model {args.file} fails on a {frames[0].shape[1]}x"
              f"{frames[0].shape[0]} frame: {exc}", file=sys.stderr)
        return 2
    h, w = frames[0].shape[:2]
    print(f"speed: {np.mean(times):.1f} ms per {w}x{h} frame (median {np.median(times):.1f}, "
          f"{len(times)} frames, imgsz {imgsz}, device {args.device})")
    print(f"best score on the probe frames: {best:.4f}")
    if best < BROKEN_SCORE:
        print(f"BROKEN: the model never scores above {BROKEN_SCORE} on {len(frames)} probe "
              "frames (untrained or damaged weights?)", file=sys.stderr)
        return 2
    print("OK")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if not args.data.is_file():
        print(f"error: data set description not found: {args.data}", file=sys.stderr)
        return 1
    if not Path(args.model).exists() and Path(args.model).suffix != ".yaml":
        print(f"error: model not found: {args.model} (give a local .pt to fine-tune or an "
              "architecture .yaml such as an ultralytics cfg file)", file=sys.stderr)
        return 1
    from ultralytics import YOLO

    model = YOLO(str(args.model), task="detect")
    try:
        model.train(data=str(args.data), epochs=args.epochs, imgsz=args.imgsz,
                    batch=args.batch, device=args.device, project=str(args.project.resolve()),
                    name=args.name, exist_ok=True, plots=False, amp=False, workers=args.workers,
                    pretrained=False, verbose=True, val=not args.no_val)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: training failed: {exc}", file=sys.stderr)
        return 1
    best = Path(model.trainer.best) if model.trainer and Path(model.trainer.best).exists() \
        else Path(model.trainer.last)
    print(f"trained weights: {best}")
    print("next: write a model card (see models/coco_yolov8n.yaml) and run "
          f"`lianqin model check {best}`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vision.yolo import ModelCardError

    try:
        model, card = _load(args.file)
    except (FileNotFoundError, ValueError, ModelCardError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    imgsz = args.imgsz or (card.imgsz if card is not None else 640)
    try:
        out = model.export(format=args.format, imgsz=imgsz, device=args.device)
    except Exception as exc:
        print(f"error: export to {args.format} failed: {exc}", file=sys.stderr)
        return 1
    print(f"exported: {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lianqin model ...`` to the command line."""
    model = sub.add_parser("model", help="check, train and export YOLO models (offline)")
    msub = model.add_subparsers(dest="model_command", required=True)

    check = msub.add_parser("check", help="load a model file or card, list classes, time it")
    check.add_argument("file", type=Path, help="model file (.pt, .onnx, OpenVINO folder) or "
                       "model card (.yaml)")
    check.add_argument("--images", type=Path, help="probe images (default: synthetic scenes)")
    check.add_argument("--frames", type=int, default=8, help="probe frames to time")
    check.add_argument("--imgsz", type=int, default=None, help="input size (default: card's or 640)")
    check.add_argument("--device", default="cpu")
    check.add_argument("--all-classes", action="store_true",
                       help="with a card: list the classes it does not use too")
    check.set_defaults(func=cmd_check)

    train = msub.add_parser("train", help="train on a YOLO-format data set (DATA.yaml)")
    train.add_argument("data", type=Path)
    train.add_argument("--model", type=Path, default=Path("models/weights/yolo11n.pt"),
                       help="local .pt to fine-tune, or an architecture .yaml (a file, or "
                       "an ultralytics one such as yolo11n.yaml); never downloaded")
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--imgsz", type=int, default=640)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--device", default="cpu")
    train.add_argument("--project", type=Path, default=Path("var/train"))
    train.add_argument("--name", default="run")
    train.add_argument("--no-val", action="store_true", help="skip validation each epoch")
    train.set_defaults(func=cmd_train)

    export = msub.add_parser("export", help="convert a model (onnx, openvino, torchscript)")
    export.add_argument("file", type=Path, help="model file or model card")
    export.add_argument("--format", default="onnx", choices=["onnx", "openvino", "torchscript"])
    export.add_argument("--imgsz", type=int, default=None)
    export.add_argument("--device", default="cpu")
    export.set_defaults(func=cmd_export)
    os.environ.setdefault("YOLO_OFFLINE", "1")
