"""Benchmark the GPU path of a worker: inference per call vs batched, the bare network,
CPU decoding per core and on all cores, and NVDEC decoding.

Usage:
    python3 bench/bench_gpu.py --out DIR            # on a CUDA machine, ~3-4 minutes
    python3 bench/bench_gpu.py --out DIR --cpu      # smoke run on the CPU, small sizes

Measured (each a timed loop of a few seconds after a warm-up; the network is yolo11n at
640 built from ``yolo11n.yaml`` with random weights: nothing is downloaded, and random
weights cost the same per frame):

- ``predict_single``: ultralytics ``predict`` one frame at a time (its own CPU letterbox).
- ``predict_batch``: ultralytics ``predict`` on a list of 64 frames per call.
- ``batch_detector``: ``vision/batch.py`` (letterbox and normalisation on the GPU, one
  forward, batched NMS), decoded frame to boxes, at 64 and 256 frames per call, for
  1080p frames and for 640x360 sub-stream frames.
- ``forward``: the bare network forward at batch 256, fp16, on a ready tensor (640 x 640,
  and ``forward_rect`` 640 x 384, what 16:9 frames need).
- ``cpu_decode``: PyAV decoding of a generated 1080p25 H.264 clip (GOP 50) on one thread,
  all frames and keyframes only (``skip_frame=NONKEY``), then with one process per core;
  the same for a 640x360 clip (``sub_stream``: what a camera's sub stream costs).
- ``nvdec``: PyAV with ``HWAccel(device_type="cuda")``, frames copied to host memory, one
  stream and several processes at once, every frame and keyframes only; and once with the
  frames left on the GPU (``is_hw_owned``).

A missing package (torch, ultralytics, av) or a missing GPU skips the sections that
need it, with the reason in the summary; the rest still runs. The JSON summary is printed
last and written to ``DIR/bench_gpu.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")

CLIP_FPS = 25
CLIP_GOP = 50


def log(msg: str) -> None:
    print(f"[bench_gpu {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def have(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:
        return False


def timed(fn, seconds: float, *, warmup: int = 2, per_call: int = 1,  # noqa: ANN001
          sync=None) -> dict[str, Any]:  # noqa: ANN001
    """Call ``fn`` repeatedly for about ``seconds``; frames/s = calls x per_call / time."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        if sync and calls % 4 == 0:
            sync()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    if sync:
        sync()
    elapsed = time.perf_counter() - started
    return {"fps": round(calls * per_call / elapsed, 1), "calls": calls, "per_call": per_call,
            "ms_per_call": round(elapsed / calls * 1000, 2), "seconds": round(elapsed, 2)}


# -- test pictures and the clip ---------------------------------------------------------
def frames(n: int, width: int, height: int, seed: int = 0):  # noqa: ANN201
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    return [np.roll(big, 16 * i, axis=1).copy() for i in range(n)]


def make_clip(path: Path, seconds: float, width: int = 1920, height: int = 1080) -> dict:
    """A 25 fps H.264 clip (libx264, GOP 50, 4 Mbit/s at 1080p) with moving content."""
    import av
    import numpy as np

    started = time.perf_counter()
    n = int(seconds * CLIP_FPS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = CLIP_GOP
        # 4 Mbit/s at 1080p; a sub stream gets its share by pixels (at least 512 kbit/s)
        stream.codec_context.bit_rate = max(512_000, 4_000_000 * width * height // 2_073_600)
        stream.options = {"preset": "veryfast", "keyint_min": str(CLIP_GOP),
                          "sc_threshold": "0", "bframes": "0"}
        yy, xx = np.mgrid[0:height, 0:width]
        rng = np.random.default_rng(1)
        noise = rng.integers(0, 40, (height, width), dtype=np.uint8)
        for i in range(n):
            img = np.empty((height, width, 3), np.uint8)
            img[..., 0] = ((xx + 7 * i) % 256).astype(np.uint8)
            img[..., 1] = ((yy + 3 * i) % 256).astype(np.uint8)
            img[..., 2] = noise
            x0 = (40 * i) % (width - 200)
            img[400:600, x0:x0 + 200] = 255
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            frame.time_base = Fraction(1, CLIP_FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return {"path": str(path), "frames": n, "bytes": path.stat().st_size,
            "encode_s": round(time.perf_counter() - started, 1)}


# -- decoding (run in worker processes too) ----------------------------------------------
def decode_loop(path: str, seconds: float, keyframes_only: bool = False,
                hw: bool = False, hw_owned: bool = False) -> dict[str, Any]:
    """Decode the clip again and again for ``seconds`` on one thread (CPU) or NVDEC
    (frames downloaded to host memory: PyAV does that unless ``is_hw_owned``)."""
    import av

    kwargs: dict[str, Any] = {}
    if hw:
        from av.codec.hwaccel import HWAccel

        kwargs["hwaccel"] = HWAccel(device_type="cuda", allow_software_fallback=False,
                                    is_hw_owned=hw_owned)
    decoded, started, fmt = 0, time.perf_counter(), None
    while time.perf_counter() - started < seconds:
        with av.open(path, **kwargs) as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if not hw:
                ctx.thread_count = 1
                ctx.thread_type = "SLICE"
            if keyframes_only:
                ctx.skip_frame = "NONKEY"
            for frame in container.decode(stream):
                if fmt is None:
                    fmt = frame.format.name
                decoded += 1
                if time.perf_counter() - started >= seconds:
                    break
    elapsed = time.perf_counter() - started
    return {"frames": decoded, "seconds": round(elapsed, 2), "fps": round(decoded / elapsed, 1),
            "format": fmt}


def _decode_worker(args: tuple) -> dict[str, Any]:
    return decode_loop(*args)


def parallel_decode(path: str, processes: int, seconds: float, keyframes_only: bool = False,
                    hw: bool = False) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        results = pool.map(_decode_worker, [(path, seconds, keyframes_only, hw)] * processes)
    total = sum(r["fps"] for r in results)
    return {"processes": processes, "fps": round(total, 1),
            "fps_per_process": round(total / processes, 1), "format": results[0]["format"]}


# -- sections -----------------------------------------------------------------------------
def section_env(args: argparse.Namespace) -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "mode": "cpu smoke" if args.cpu else "full"}
    missing = [m for m in ("numpy", "torch", "ultralytics", "av", "cv2") if not have(m)]
    env["missing"] = missing
    if "torch" not in missing:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.cuda.is_available()
        if env["cuda"]:
            env["gpu"] = torch.cuda.get_device_name(0)
    if "ultralytics" not in missing:
        import ultralytics

        env["ultralytics"] = ultralytics.__version__
    if "av" not in missing:
        import av
        import av.codec.hwaccel as hwaccel

        env["av"] = av.__version__
        env["hwdevices"] = list(hwaccel.hwdevices_available())
        env["cuvid"] = [c for c in ("h264_cuvid", "hevc_cuvid") if c in av.codecs_available]
    return env


def section_decode(args: argparse.Namespace, out: Path, env: dict) -> dict[str, Any]:
    if "av" in env["missing"] or "numpy" in env["missing"]:
        return {"skipped": "needs av and numpy"}
    res: dict[str, Any] = {}
    clip = out / "clip_1080p25.mp4"
    res["clip"] = make_clip(clip, 1.0 if args.cpu else 8.0)
    log(f"clip: {res['clip']}")
    t = 2.0 if args.cpu else args.seconds
    if "cpu_decode" in args.skip:
        res["cpu"] = {"skipped": "--skip cpu_decode"}
    else:
        res.update(cpu_decode(args, clip, t))
        # a camera's sub stream: the cheaper way to analyse at scale
        sub = out / "clip_360p25.mp4"
        res["sub_stream"] = {"clip": make_clip(sub, 1.0 if args.cpu else 8.0, 640, 360),
                             **cpu_decode(args, sub, t)}
    res["nvdec"] = nvdec(args, clip, t, env)
    return res


def cpu_decode(args: argparse.Namespace, clip: Path, t: float) -> dict[str, Any]:
    res: dict[str, Any] = {}
    res["per_core_all_frames"] = decode_loop(str(clip), t)
    res["per_core_keyframes_only"] = decode_loop(str(clip), t, keyframes_only=True)
    log(f"cpu decode one core: {res['per_core_all_frames']['fps']} fps, keyframes "
        f"{res['per_core_keyframes_only']['fps']} fps")
    procs = 2 if args.cpu else (os.cpu_count() or 1)
    res["all_cores_all_frames"] = parallel_decode(str(clip), procs, t)
    res["all_cores_keyframes_only"] = parallel_decode(str(clip), procs, t, keyframes_only=True)
    log(f"cpu decode {procs} processes: {res['all_cores_all_frames']['fps']} fps, keyframes "
        f"{res['all_cores_keyframes_only']['fps']} fps")
    return res


def nvdec(args: argparse.Namespace, clip: Path, t: float, env: dict) -> dict[str, Any]:
    """NVDEC through PyAV: every frame and keyframes only, frames copied to host memory
    (what the CPU detectors need) and, once, kept on the GPU (``is_hw_owned``)."""
    if args.cpu or not env.get("cuda") or "cuda" not in env.get("hwdevices", []):
        return {"skipped": "no CUDA device or no cuda hwdevice in PyAV's FFmpeg"}
    nv: dict[str, Any] = {}
    runs = [("one_stream", lambda: decode_loop(str(clip), t, hw=True)),
            ("one_stream_keyframes_only",
             lambda: decode_loop(str(clip), t, keyframes_only=True, hw=True)),
            ("one_stream_on_gpu", lambda: decode_loop(str(clip), t, hw=True, hw_owned=True))]
    for n in args.nvdec_processes:
        runs.append((f"processes_{n}", lambda n=n: parallel_decode(str(clip), n, t, hw=True)))
        runs.append((f"processes_{n}_keyframes_only", lambda n=n: parallel_decode(
            str(clip), n, t, keyframes_only=True, hw=True)))
    for name, run in runs:
        try:
            nv[name] = run()
            log(f"nvdec {name}: {nv[name]}")
        except Exception as exc:
            nv[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"nvdec {name} failed: {exc}")
    return nv


def section_inference(args: argparse.Namespace, env: dict) -> dict[str, Any]:
    if {"torch", "ultralytics", "numpy"} & set(env["missing"]):
        return {"skipped": "needs torch, ultralytics and numpy"}
    import torch
    from ultralytics import YOLO

    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda:0" if cuda else "cpu"
    half = cuda
    imgsz = 640 if not args.cpu else 320
    t = 2.0 if args.cpu else args.seconds
    sync = torch.cuda.synchronize if cuda else None
    res: dict[str, Any] = {"device": device, "imgsz": imgsz, "half": half}
    width, height = (1920, 1080) if not args.cpu else (640, 360)
    pics = frames(64 if not args.cpu else 4, width, height)
    batch_n = 64 if not args.cpu else 4

    import logging

    from ultralytics.utils import LOGGER

    LOGGER.setLevel(logging.ERROR)  # one deprecation warning per predict call otherwise
    yolo = YOLO("yolo11n.yaml", task="detect")
    kw = {"imgsz": imgsz, "device": device, "half": half, "verbose": False}
    i = {"n": 0}

    def one() -> None:
        yolo.predict(pics[i["n"] % len(pics)], **kw)
        i["n"] += 1

    try:
        res["predict_single"] = timed(one, t, warmup=3, sync=sync)
        log(f"predict one frame at a time: {res['predict_single']['fps']} fps")
        res["predict_batch"] = timed(lambda: yolo.predict(pics[:batch_n], **kw), t, warmup=1,
                                     per_call=batch_n, sync=sync)
        log(f"predict {batch_n} per call: {res['predict_batch']['fps']} fps")
    except Exception as exc:
        res["predict_error"] = f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())

    try:
        from vision.batch import BatchDetector, letterbox_batch

        det = BatchDetector.from_yaml("yolo11n.yaml", imgsz=imgsz, device=device, half=half)
        sizes = [(64, 256)] if not args.cpu else [(4, 8)]
        small = frames(64 if not args.cpu else 8, 640, 360, seed=2)
        bd: dict[str, Any] = {}
        for n_small, n_big in sizes:
            for label, pool in (("1080p", pics), ("360p", small)):
                for n in (n_small, n_big):
                    batch = (pool * (n // len(pool) + 1))[:n]
                    r = timed(lambda b=batch: det.infer(b), t, warmup=1, per_call=n, sync=sync)
                    bd[f"{label}_batch{n}"] = r
                    log(f"vision/batch.py {label} x{n}: {r['fps']} fps")
        res["batch_detector"] = bd
        # where the time goes (synchronised between stages), and how many boxes reach NMS:
        # random weights can put far more candidates over the threshold than a trained
        # network on street scenes does, which makes NMS a worst case here
        det.profile = True
        for label, pool, n in (("1080p", pics, sizes[0][0]), ("360p", small, sizes[0][1])):
            batch = (pool * (n // len(pool) + 1))[:n]
            runs = []
            for _ in range(3):
                det.infer(batch)
                runs.append(det.last_profile)
            raw = det.forward(letterbox_batch(batch[:8], imgsz, device, det.dtype)[0])
            cand = float((raw[:, 4:].amax(1) > det.conf).sum(1).float().mean())
            res[f"profile_{label}_batch{n}"] = {**runs[-1], "candidates_per_frame": cand}
            log(f"profile {label} x{n}: {res[f'profile_{label}_batch{n}']}")
        det.profile = False
        # the letterbox alone (host-to-device copy + resize), 1080p x 64
        res["letterbox_1080p_batch64"] = timed(
            lambda: letterbox_batch(pics[:batch_n], imgsz, device, det.dtype), t, warmup=1,
            per_call=batch_n, sync=sync)
        fwd_n = 256 if not args.cpu else 8
        x = torch.rand(fwd_n, 3, imgsz, imgsz, device=device, dtype=det.dtype)
        res["forward"] = {"batch": fwd_n, "input": [imgsz, imgsz],
                          **timed(lambda: det.forward(x), t, warmup=2, per_call=fwd_n,
                                  sync=sync)}
        log(f"bare forward batch {fwd_n}: {res['forward']['fps']} fps")
        del x
        rect_h = imgsz * 3 // 5  # 16:9 frames at 640: 640 x 384
        x = torch.rand(fwd_n, 3, rect_h, imgsz, device=device, dtype=det.dtype)
        res["forward_rect"] = {"batch": fwd_n, "input": [rect_h, imgsz],
                               **timed(lambda: det.forward(x), t, warmup=2, per_call=fwd_n,
                                       sync=sync)}
        log(f"bare forward batch {fwd_n} {rect_h}x{imgsz}: {res['forward_rect']['fps']} fps")
    except Exception as exc:
        res["batch_error"] = f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())
    return res


def capacity(summary: dict[str, Any]) -> dict[str, Any]:
    """Cameras one box can patrol at 0.5 analysed fps, by what limits it."""
    rate = 0.5
    cap: dict[str, Any] = {"analysed_fps_per_camera": rate}
    dec = summary.get("decode", {})
    kf = dec.get("all_cores_keyframes_only", {}).get("fps")
    full = dec.get("all_cores_all_frames", {}).get("fps")
    if kf:
        # keyframe-only at a 2 s GOP: one decoded keyframe per analysed frame
        cap["cpu_decode_keyframes_cameras"] = int(kf / rate)
    sub_kf = dec.get("sub_stream", {}).get("all_cores_keyframes_only", {}).get("fps")
    if sub_kf:
        cap["cpu_decode_sub_stream_keyframes_cameras"] = int(sub_kf / rate)
    if full:
        # full decoding: every frame of a 25 fps stream is decoded
        cap["cpu_decode_full_cameras"] = int(full / CLIP_FPS)
    inf = summary.get("inference", {}).get("batch_detector", {})
    best = max((v.get("fps", 0) for v in inf.values()), default=0)
    if best:
        cap["inference_frames_per_s"] = best
        cap["inference_cameras"] = int(best / rate)
    limits = {k: v for k, v in cap.items() if k.endswith("_cameras")}
    if limits:
        decode_limit = max(v for k, v in limits.items() if "decode" in k) if any(
            "decode" in k for k in limits) else None
        box = min(x for x in (decode_limit, limits.get("inference_cameras")) if x)
        cap["box_cameras"] = box
        cap["limit"] = ("decode" if decode_limit is not None and decode_limit <= box
                        else "inference")
    return cap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the clip and JSON")
    parser.add_argument("--cpu", action="store_true", help="smoke run on the CPU, small sizes")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per timed loop")
    parser.add_argument("--nvdec-processes", type=int, nargs="*", default=[4, 8],
                        help="NVDEC process counts to try at once")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["decode", "cpu_decode", "inference"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary: dict[str, Any] = {"env": section_env(args)}
    log(f"env: {summary['env']}")
    for name, fn in (("decode", lambda: section_decode(args, args.out, summary["env"])),
                     ("inference", lambda: section_inference(args, summary["env"]))):
        if name in args.skip:
            summary[name] = {"skipped": "--skip"}
            continue
        try:
            summary[name] = fn()
        except Exception as exc:
            summary[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(traceback.format_exc())
    summary["capacity"] = capacity(summary)
    summary["total_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(summary, indent=1)
    (args.out / "bench_gpu.json").write_text(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
