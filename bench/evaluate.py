"""Evaluation harness: how right the detectors are, on real footage and synthetic scenes.

Usage:
    .venv/bin/python bench/evaluate.py [--eval-dir ../shared/eval] [--coco FILE]
        [--sections truth,labelled,synthetic] [--perturb none,noise,jpeg,light,shake]
        [--seconds 240] [--jobs 2] [--json results.json]

Sections:

- ``truth``: every row of ``<eval-dir>/truth.tsv`` (path, kind, present|absent, note) is
  scanned with ``lianqin scan``'s code (``lianqin.scan.scan``: the live pipeline's
  analyser, detectors and rules) for that kind. Clips at 2 analysed frames/s; a folder is
  a time-ordered image sequence (frames "N min apart" per its note, else 1 s); a single
  image is judged on its own frame. Per configuration and kind: event-level precision and
  recall, false events per camera-hour of negative clips and sequences, time to detect.
- ``labelled``: YOLO-labelled image sets (``images/``, ``labels/``) under
  ``<eval-dir>/labelled`` and ``<eval-dir>/stalls``: frame-level precision, recall (IoU 0.5,
  at the model's threshold) and mAP50 of each configuration that gives boxes on a still
  (a model card); the classical detectors are temporal and give none on a single image.
- ``synthetic``: the five synthetic scenes (``camera_adapters.synthetic``), H.264
  round-tripped, every detector watching the whole frame, plain and with sensor noise,
  JPEG compression artefacts, lighting changes and camera shake added: the scene's event
  must be found once, nothing else and nothing on the quiet scene.

Configurations: ``classical`` (no model file at all) and, when the COCO model file exists
(``--coco``, default ``<eval-dir>/weights/yolov8n_int8_coco.onnx``), ``coco``: crowd from
YOLO people with tiled inference, stalls combined (parked cars vetoed, umbrellas, tables
and lingering people raise confidence), through the model cards in ``models/``.

When ``--eval-dir`` does not exist the real-footage sections are skipped and the harness
says so; the synthetic section always runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per worker, as each camera worker gets
os.environ.setdefault("YOLO_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from camera_adapters.file import IMAGE_SUFFIXES, list_images  # noqa: E402
from camera_adapters.frame import Frame  # noqa: E402
from camera_adapters.synthetic import SCENES, SyntheticSource, SyntheticSourceConfig  # noqa: E402
from lianqin.config import LianqinConfig  # noqa: E402
from lianqin.scan import FULL_FRAME, scan  # noqa: E402
from patrol.analyzer import CameraAnalyzer  # noqa: E402
from rules.events import UpdateType  # noqa: E402
from rules.zones import ZoneConfig  # noqa: E402
from vision.types import EventKind  # noqa: E402
from vision.yolo import ModelCard, shared_model  # noqa: E402

DEFAULT_EVAL = ROOT.parent / "shared" / "eval"
COCO_CARD = ROOT / "models" / "coco_yolov8n.yaml"
COCO_TILED_CARD = ROOT / "models" / "coco_yolov8n_tiled.yaml"
PERTURBATIONS = ("none", "noise", "jpeg", "light", "shake")
ONSET_S = 8.0
# scene lengths (s): a stall must stay still for the rules' 3 minutes after the detector's
# warm-up; the others show their event within seconds
SCENE_SECONDS = {"stall": 240.0, "smoke": 90.0, "dust": 90.0, "crowd": 90.0, "quiet": 120.0}
ANALYSED_FPS = 2.0


# --------------------------------------------------------------------------- configurations

def configurations(coco: Path | None) -> dict[str, LianqinConfig]:
    """The detector configurations compared: no model, and the COCO model where it helps."""
    out = {"classical": LianqinConfig()}
    if coco is not None and coco.exists():
        out["coco"] = LianqinConfig.model_validate({"detectors": {
            "crowd": {"backend": "yolo", "model_card": str(COCO_TILED_CARD), "model": str(coco)},
            "stall": {"backend": "combined", "model_card": str(COCO_CARD), "model": str(coco)},
        }})
    return out


# --------------------------------------------------------------------------- truth table

@dataclass
class RowResult:
    config: str
    path: str
    kind: str
    present: bool
    events: int
    first_s: float | None
    hours: float  # footage length (0 for a still)
    seconds: float  # run time
    note: str = ""

    @property
    def correct(self) -> bool:
        return (self.events > 0) == self.present


def read_truth(eval_dir: Path) -> list[tuple[str, str, bool, str]]:
    rows = []
    for line in (eval_dir / "truth.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, kind, truth, *note = line.split("\t")
        if truth not in ("present", "absent"):
            raise ValueError(f"truth.tsv: {path}: truth must be present or absent, not {truth!r}")
        rows.append((path, kind, truth == "present", note[0] if note else ""))
    return rows


def footage_hours(path: Path, interval_s: float) -> float:
    if path.is_dir():
        return len(list_images(path)) * interval_s / 3600
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return 0.0
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base) / 3600
        return float(container.duration or 0) / 1e6 / 3600


def sequence_interval(note: str) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)\s*min apart", note)
    return float(m.group(1)) * 60 if m else 1.0


def run_row(args: tuple[str, LianqinConfig, Path, str, str, bool, str, float]) -> RowResult:
    name, config, eval_dir, rel, kind, present, note, interval = args
    cv2.setNumThreads(1)
    path = eval_dir / rel
    started = time.perf_counter()
    found = scan(path, config, kinds=[EventKind(kind)], fps=ANALYSED_FPS, interval_s=interval,
                 progress=False)
    return RowResult(name, rel, kind, present, len(found),
                     found[0].start_s if found else None, footage_hours(path, interval),
                     time.perf_counter() - started, note)


def summarise_truth(results: list[RowResult]) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for (config, kind), rows in sorted(_group(results, lambda r: (r.config, r.kind)).items()):
        pos = [r for r in rows if r.present]
        neg = [r for r in rows if not r.present]
        tp = sum(r.events > 0 for r in pos)
        fp = sum(r.events > 0 for r in neg)
        neg_hours = sum(r.hours for r in neg)
        neg_events = sum(r.events for r in neg if r.hours > 0)
        ttd = [r.first_s for r in pos if r.first_s is not None and r.hours > 0]
        table.setdefault(config, {})[kind] = {
            "positives": len(pos), "negatives": len(neg), "tp": tp, "fp": fp,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / len(pos) if pos else None,
            "false_events_per_camera_hour": neg_events / neg_hours if neg_hours else None,
            "negative_hours": neg_hours,
            "time_to_detect_s": float(np.median(ttd)) if ttd else None,
            "correct_rows": sum(r.correct for r in rows), "rows": len(rows),
        }
    return table


def _group(items: list[Any], key: Any) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


# --------------------------------------------------------------------------- labelled sets

@dataclass
class FrameScore:
    config: str
    dataset: str
    kind: str
    images: int
    boxes: int
    precision: float | None
    recall: float
    map50: float
    ms_per_image: float
    note: str = ""


def labelled_sets(eval_dir: Path) -> list[tuple[Path, EventKind]]:
    """YOLO-labelled folders (images/ + labels/) and the event kind their boxes are."""
    out = []
    for images in sorted(eval_dir.glob("**/images")):
        folder = images.parent
        if not (folder / "labels").is_dir():
            continue
        name = folder.name.lower()
        kind = (EventKind.SMOKE if "smoke" in name else EventKind.STALL if "vendor" in name
                or "stall" in name else EventKind.DUST if "dust" in name else EventKind.CROWD)
        out.append((folder, kind))
    return out


def read_labels(path: Path, width: int, height: int) -> np.ndarray:
    if not path.exists():
        return np.zeros((0, 4), np.float32)
    boxes = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        cx, cy, w, h = (float(v) for v in parts[1:5])
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def average_precision(scores: np.ndarray, matched: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP (VOC 2010+, COCO's mAP50 at one IoU)."""
    if n_truth == 0:
        return float("nan")
    if not len(scores):
        return 0.0
    order = np.argsort(-scores)
    tp = np.cumsum(matched[order])
    fp = np.cumsum(~matched[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def match(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Greedy matching by score: which predictions hit a not-yet-matched truth box."""
    from vision.tracking import iou_matrix

    hit = np.zeros(len(pred), bool)
    if not len(pred) or not len(truth):
        return hit
    overlaps = iou_matrix(pred, truth)
    used = np.zeros(len(truth), bool)
    for i in np.argsort(-scores):
        j = int(np.argmax(np.where(used, -1, overlaps[i])))
        if not used[j] and overlaps[i, j] >= iou:
            hit[i], used[j] = True, True
    return hit


def still_boxes(config: LianqinConfig, kind: EventKind, image: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, float | None] | None:
    """Boxes of ``kind`` that the configuration gives on one still image (a model card's
    boxes before any temporal rule), or None when it gives none on stills."""
    sub = getattr(config.detectors, kind.value)
    card_path = getattr(sub, "model_card", None)
    if kind is EventKind.CROWD:
        if sub.backend != "yolo" or card_path is None:
            return None
        role = "person"
    else:
        if sub.backend == "classical" or card_path is None:
            return None
        role = kind.value
    card = ModelCard.load(card_path)
    if sub.model is not None:
        card = card.model_copy(update={"file": Path(sub.model)})
    model = shared_model(card)
    if not model.classes_for(role):
        return None
    found = model.predict(image)
    ids = np.isin(found.data["cls"], model.classes_for(role))
    return found.xyxy[ids], found.confidence[ids], card.threshold(role)


def score_labelled(name: str, config: LianqinConfig, folder: Path, kind: EventKind) -> FrameScore:
    images = list_images(folder / "images")
    all_scores, all_hits, n_pred_at, tp_at = [], [], 0, 0
    n_truth = sum(len(read_labels(folder / "labels" / (p.stem + ".txt"), 1, 1)) for p in images)
    started = time.perf_counter()
    for img_path in images:
        image = cv2.imread(str(img_path))
        truth = read_labels(folder / "labels" / (img_path.stem + ".txt"), image.shape[1],
                            image.shape[0])
        got = still_boxes(config, kind, image)
        if got is None:
            note = "no boxes on stills: the classical detector is temporal; supply a model card"
            return FrameScore(name, folder.name, kind.value, len(images), n_truth, None, 0.0,
                              0.0, 0.0, note)
        xyxy, scores, threshold = got
        hits = match(xyxy, scores, truth)
        all_scores.append(scores)
        all_hits.append(hits)
        at = scores >= (threshold or 0.0)
        n_pred_at += int(at.sum())
        tp_at += int(hits[at].sum())
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, bool)
    return FrameScore(name, folder.name, kind.value, len(images), n_truth,
                      tp_at / n_pred_at if n_pred_at else None,
                      tp_at / n_truth if n_truth else 0.0,
                      average_precision(scores, hits, n_truth),
                      (time.perf_counter() - started) * 1000 / max(len(images), 1))


# --------------------------------------------------------------------------- synthetic

def perturb(image: np.ndarray, how: str, ts: float, rng: np.random.Generator) -> np.ndarray:
    """Add camera trouble to a frame: sensor noise, compression artefacts, lighting
    changes (a slow gain swing and passing cloud shadows), camera shake."""
    if how == "none":
        return image
    if how == "noise":
        noisy = image.astype(np.float32) + rng.normal(0, 6.0, image.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    if how == "jpeg":
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 20])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    if how == "light":
        gain = 1.0 + 0.25 * np.sin(2 * np.pi * ts / 90.0)  # a day's light, sped up
        return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    if how == "shake":
        dx, dy = rng.normal(0, 1.5, 2)  # a pole in the wind: 1-3 px
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]),
                              borderMode=cv2.BORDER_REFLECT)
    raise ValueError(f"unknown perturbation {how!r}; choose from {', '.join(PERTURBATIONS)}")


@dataclass
class SceneResult:
    config: str
    scene: str
    perturbation: str
    events: list[tuple[str, float]] = field(default_factory=list)  # (kind, start_s)
    frames: int = 0
    ms: dict[str, float] = field(default_factory=dict)  # mean ms per analysed frame per kind

    @property
    def found(self) -> float | None:
        """Seconds from onset to the scene's own event, or None."""
        own = [t for k, t in self.events if k == self.scene and t >= ONSET_S]
        return own[0] - ONSET_S if own else None

    @property
    def false(self) -> list[tuple[str, float]]:
        return [(k, t) for k, t in self.events if k != self.scene or t < ONSET_S]


def run_scene(args: tuple[str, LianqinConfig, str, str, float, int]) -> SceneResult:
    name, config, scene, how, seconds, seed = args
    cv2.setNumThreads(1)
    zone = ZoneConfig(id="frame", polygon=FULL_FRAME, kinds=list(EventKind))
    analyzer = CameraAnalyzer("synthetic", [zone], config.detectors, config.rules)
    rng = np.random.default_rng(seed)
    out = SceneResult(name, scene, how)
    cfg = SyntheticSourceConfig(scene=scene, fps=ANALYSED_FPS, realtime=False,
                                onset_s=ONSET_S, seed=seed)
    with SyntheticSource("synthetic", cfg) as src:
        while (frame := src.read()) is not None and frame.ts <= seconds:
            image = perturb(frame.image, how, frame.ts, rng)
            shaken = Frame(frame.camera_id, image, frame.ts, frame.wall_ts, frame.index)
            for upd in analyzer.analyse(shaken).result.updates:
                if upd.type is UpdateType.START:
                    out.events.append((str(upd.event.kind), round(upd.event.start_ts, 1)))
            out.frames += 1
    out.ms = {str(k): t.mean_ms for k, t in analyzer.timings.items()}
    return out


# --------------------------------------------------------------------------- report

def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{100 * v:.0f}%" if pct else f"{v:.2f}"


def print_truth(rows: list[RowResult], table: dict[str, Any]) -> None:
    print("\n## truth.tsv rows (event-level; 'events' = events the scan raised)\n")
    print(f"{'config':<10} {'kind':<6} {'truth':<8} {'events':>6} {'first s':>8} "
          f"{'ok':<3} {'run s':>6}  path")
    for r in rows:
        print(f"{r.config:<10} {r.kind:<6} {'present' if r.present else 'absent':<8} "
              f"{r.events:>6} {_fmt(r.first_s):>8} {'yes' if r.correct else 'NO':<3} "
              f"{r.seconds:6.1f}  {r.path}")
    print("\n## per kind\n")
    print(f"{'config':<10} {'kind':<6} {'rows ok':>8} {'precision':>9} {'recall':>7} "
          f"{'false/cam-h':>11} {'neg h':>6} {'detect s':>8}")
    for config, kinds in table.items():
        for kind, s in kinds.items():
            print(f"{config:<10} {kind:<6} {s['correct_rows']:>4}/{s['rows']:<3} "
                  f"{_fmt(s['precision'], True):>9} {_fmt(s['recall'], True):>7} "
                  f"{_fmt(s['false_events_per_camera_hour']):>11} {s['negative_hours']:6.2f} "
                  f"{_fmt(s['time_to_detect_s']):>8}")


def print_labelled(scores: list[FrameScore]) -> None:
    print("\n## YOLO-labelled sets (frame level, IoU 0.5)\n")
    print(f"{'config':<10} {'dataset':<40} {'kind':<6} {'imgs':>5} {'boxes':>5} "
          f"{'P':>5} {'R':>5} {'mAP50':>6} {'ms/img':>7}")
    for s in scores:
        print(f"{s.config:<10} {s.dataset:<40} {s.kind:<6} {s.images:>5} {s.boxes:>5} "
              f"{_fmt(s.precision):>5} {_fmt(s.recall):>5} {_fmt(s.map50):>6} "
              f"{s.ms_per_image:7.0f}  {s.note}")


def print_synthetic(results: list[SceneResult]) -> None:
    print("\n## synthetic scenes (all four detectors watch the whole frame; event onset "
          f"{ONSET_S:g} s)\n")
    print(f"{'config':<10} {'scene':<6} {'perturb':<7} {'found after s':>13} "
          f"{'false events':<24} ms/frame per detector")
    for r in results:
        own = "-" if r.scene == "quiet" else _fmt(r.found) if r.found is not None else "MISSED"
        false = ", ".join(f"{k}@{t:g}" for k, t in r.false) or "none"
        ms = " ".join(f"{k} {v:.0f}" for k, v in r.ms.items())
        print(f"{r.config:<10} {r.scene:<6} {r.perturbation:<7} {own:>13} {false:<24} {ms}")
    misses = [r for r in results if r.scene != "quiet" and r.found is None]
    false = [r for r in results if r.false]
    print(f"\nsynthetic: {len(results)} runs, {len(misses)} missed, {len(false)} with false "
          "events")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--coco", type=Path, default=None,
                        help="COCO YOLO model file (default: <eval-dir>/weights/yolov8n_int8_coco.onnx)")
    parser.add_argument("--sections", default="truth,labelled,synthetic")
    parser.add_argument("--configs", default="classical,coco")
    parser.add_argument("--perturb", default=",".join(PERTURBATIONS))
    parser.add_argument("--scenes", default=",".join(SCENES))
    parser.add_argument("--seconds", type=float, default=None,
                        help="synthetic scene length (default: stall 240, quiet 120, others 90)")
    parser.add_argument("--rows", default="", help="only truth rows whose path contains one "
                        "of these comma-separated strings")
    parser.add_argument("--jobs", type=int, default=max((os.cpu_count() or 2) - 0, 1))
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    coco = args.coco or args.eval_dir / "weights" / "yolov8n_int8_coco.onnx"
    configs = {k: v for k, v in configurations(coco).items() if k in args.configs.split(",")}
    cv2.setNumThreads(1)
    report: dict[str, Any] = {"configs": list(configs)}
    have_eval = args.eval_dir.is_dir() and (args.eval_dir / "truth.tsv").exists()
    print(f"lianqin evaluation — configurations: {', '.join(configs)}")
    if not have_eval:
        print(f"real footage: {args.eval_dir} not found — truth-table and labelled sections "
              "skipped (synthetic scenes only)")
    elif "coco" not in configs:
        print(f"COCO model {coco} not found or not asked for: classical configuration only")

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        if have_eval and "truth" in sections:
            truth = read_truth(args.eval_dir)
            # a sequence's frame interval, from any of its rows' notes ("3 min apart")
            intervals: dict[str, float] = {}
            for rel, _, _, note in truth:
                if sequence_interval(note) != 1.0:
                    intervals[rel] = sequence_interval(note)
            jobs = [(name, cfg, args.eval_dir, rel, kind, present, note, intervals.get(rel, 1.0))
                    for name, cfg in configs.items() for rel, kind, present, note in truth
                    if any(part in rel for part in args.rows.split(","))]
            rows = []
            for row in pool.map(run_row, jobs):
                rows.append(row)
                print(f"  {row.config} {row.kind} {row.path}: {row.events} events "
                      f"({'ok' if row.correct else 'WRONG'}, {row.seconds:.0f} s)", flush=True)
            table = summarise_truth(rows)
            print_truth(rows, table)
            report["truth"] = {"rows": [asdict(r) | {"correct": r.correct} for r in rows],
                               "per_kind": table}
        if "synthetic" in sections:
            jobs2 = [(name, cfg, scene, how, args.seconds or SCENE_SECONDS[scene], 0)
                     for name, cfg in configs.items()
                     if name == "classical" for scene in args.scenes.split(",")
                     for how in args.perturb.split(",")]
            results = []
            for res in pool.map(run_scene, jobs2):
                results.append(res)
                print(f"  {res.scene}/{res.perturbation}: found after {res.found} s, "
                      f"false {res.false}", flush=True)
            print_synthetic(results)
            report["synthetic"] = [asdict(r) | {"found_after_s": r.found, "false_events": r.false}
                                   for r in results]
    if have_eval and "labelled" in sections:
        scores = [score_labelled(name, cfg, folder, kind) for name, cfg in configs.items()
                  for folder, kind in labelled_sets(args.eval_dir)]
        print_labelled(scores)
        report["labelled"] = [asdict(s) for s in scores]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
