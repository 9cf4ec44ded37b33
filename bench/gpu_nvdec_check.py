"""NVDEC check for the ``hwaccel: cuda`` path of camera_adapters.rtsp, on a GPU machine.

Runs the exact PyAV calls that RtspSource makes on the GPU path (HWAccel with the shared
primary context, ``av.open(hwaccel=...)``, ``skip_frame = NONKEY``, send a keyframe, drain,
flush, NV12 out) on the benchmark's 1080p stream, beside the CPU path (a decoder made for
each keyframe), and 16 streams at once. Needs only PyAV (and numpy), so it runs on a bare
GPU machine with PyAV unpacked into ``$AV_SITE``. Prints and writes ``$OUT/gpu_check.json``.

    python3 bench/gpu_nvdec_check.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("AV_SITE", "/tmp/avsite"))  # PyAV carried to a bare box
import av  # noqa: E402
import av.codec.hwaccel as hw  # noqa: E402

STREAM = Path(__file__).resolve().parents[1] / "var" / "bench" / "stream-1080p25-4M-gop50.h264"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def smi() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.used",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return repr(exc)


def hwaccel() -> hw.HWAccel:
    return hw.HWAccel("cuda", allow_software_fallback=True, options={"primary_ctx": "1"})


def keyframe_packets() -> tuple[list[av.Packet], bytes | None]:
    with av.open(str(STREAM)) as c:
        s = c.streams.video[0]
        keys = [p for p in c.demux(s) if p.is_keyframe and p.size]
        return keys, s.codec_context.extradata


KEYS, EXTRA = keyframe_packets()


def drain(ctx: av.CodecContext) -> list[av.VideoFrame]:
    try:
        return list(ctx.decode(None))
    except av.EOFError:
        return []


def keyframes(use_gpu: bool, limit: int = 40) -> dict:
    """Decode ``limit`` keyframes the way RtspSource does; time all but the first."""
    c = av.open(str(STREAM), hwaccel=hwaccel() if use_gpu else None)
    ctx = c.streams.video[0].codec_context
    ctx.thread_count = 1
    info: dict = {"is_hwaccel": ctx.is_hwaccel}
    n, fmts, t0, w0 = 0, set(), cpu_s(), time.monotonic()
    for pkt in KEYS * 4:
        if n == 1:
            t0, w0 = cpu_s(), time.monotonic()
        if use_gpu:
            ctx.skip_frame = "NONKEY"
            frames = list(ctx.decode(pkt)) + drain(ctx)
            ctx.flush_buffers()
        else:
            d = av.CodecContext.create("h264", "r")
            d.thread_count = 1
            if EXTRA:
                d.extradata = EXTRA
            frames = list(d.decode(pkt)) + drain(d)
        if frames:
            n += 1
            f = frames[-1]
            fmts.add(f.format.name)
            info["size"] = [f.width, f.height]
            if n == 1:
                a = f.to_ndarray(format="nv12") if f.format.name == "nv12" else f.to_ndarray()
                info["ndarray"] = [list(a.shape), float(a.std())]
        if n >= limit:
            break
    c.close()
    info |= {"keyframes": n, "formats": sorted(fmts),
             "cpu_ms_per_keyframe": round((cpu_s() - t0) / max(n - 1, 1) * 1000, 2),
             "wall_ms_per_keyframe": round((time.monotonic() - w0) / max(n - 1, 1) * 1000, 2)}
    return info


def many(k: int) -> dict:
    """k streams at once on the GPU, sharing the device's primary context."""
    infos: list = [None] * k

    def run(i: int) -> None:
        try:
            infos[i] = keyframes(True)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            infos[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(k)]
    t0 = cpu_s()
    for t in threads:
        t.start()
    time.sleep(3)
    during = smi()
    for t in threads:
        t.join()
    ok = sum(isinstance(x, dict) and x["keyframes"] == 40 and x["is_hwaccel"] for x in infos)
    return {"smi_during": during, "ok": ok,
            "all_in_cpu_ms_per_keyframe": round((cpu_s() - t0) / (40 * k) * 1000, 2),
            "first_error": next((x for x in infos if not isinstance(x, dict)), None)}


def main() -> None:
    res: dict = {"python": sys.version, "smi_before": smi(), "av": av.__version__,
                 "hwdevices": hw.hwdevices_available()}
    try:
        hwaccel().create(av.Codec("h264", "r"))
        res["create"] = "ok"
    except Exception as exc:  # noqa: BLE001 - the answer is the report
        res["create"] = repr(exc)
    for name, use_gpu in (("cpu", False), ("gpu", True)):
        try:
            res[name] = keyframes(use_gpu)
        except Exception as exc:  # noqa: BLE001
            res[name] = repr(exc)
    try:
        res["gpu16"] = many(16)
    except Exception as exc:  # noqa: BLE001
        res["gpu16"] = repr(exc)
    res["smi_after"] = smi()
    text = json.dumps(res, indent=1)
    print(text)
    Path(os.environ.get("OUT", "/tmp"), "gpu_check.json").write_text(text)


if __name__ == "__main__":
    main()
