"""How many RTSP cameras one machine can patrol: keyframe-only vs full decoding vs ffmpeg.

Serves N copies of a pre-encoded 1080p 25 fps H.264 stream (4 Mbit/s, GOP 50) from
Debian's GStreamer RTSP server on loopback (nothing is encoded while measuring), patrols
them with the real camera workers (capture thread, pre-roll ring, analysis thread at the
patrol rate; no detectors, so detector cost is excluded), and prints for each setup:

- CPU-seconds per stream-minute of the patrol process (and of the server, apart);
- whether every camera kept up (live, stream at full rate, at most two analysed frames
  short of the due count over the window);
- the largest N the client's cost allows on this machine's cores (``cores * 60 / cost``:
  CPU time is the primary figure, since a loaded machine inflates wall-clock lag but
  hardly a process's CPU time);
- RSS per stream;
- the load average while measuring (other work on the machine).

``--procs P`` spreads the cameras over P patrol processes (one per core), so that one
process's GIL is not the limit; each process caps glibc's malloc arenas
(``--malloc-arenas``, as ``MALLOC_ARENA_MAX`` would).

The plain peer is ``ffmpeg -rtsp_transport tcp -i URL -f null -`` on the same streams.

    .venv/bin/python bench/bench_streams.py                 # the whole suite (about 9 minutes)
    .venv/bin/python bench/bench_streams.py --quick         # fewer, shorter runs
    .venv/bin/python bench/bench_streams.py --only kf,k2    # some rows (see ROWS)
    .venv/bin/python bench/bench_streams.py --search 60 80 100 --procs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

STREAM = ROOT / "var" / "bench" / "stream-1080p25-4M-gop50.h264"
SERVER = ROOT / "tests" / "camera_adapters" / "gst_rtsp_server.py"
MOUNTS = 10  # streams are spread over this many mounts (pipelines), so GOPs are staggered
CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")


def encode_stream() -> Path:
    """The test stream, encoded once and cached: 20 s of a moving, noisy 1080p picture."""
    if STREAM.exists():
        return STREAM
    STREAM.parent.mkdir(parents=True, exist_ok=True)
    print("encoding the 1080p test stream once (about 30 s)...", file=sys.stderr)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=1920x1080:rate=25,noise=alls=12:allf=t", "-t", "20", "-c:v", "libx264",
         "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M", "-g", "50",
         "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-an",
         "-f", "h264", str(STREAM) + ".part"], check=True)
    os.replace(str(STREAM) + ".part", STREAM)
    return STREAM


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the patrol process -----------------------------------------------------------------
def client(args: argparse.Namespace) -> None:
    if args.malloc_arenas:
        from camera_adapters.rtsp import limit_malloc_arenas

        limit_malloc_arenas(args.malloc_arenas, args.mmap_threshold or None)  # before threads
    from lianqin.config import parse_config
    from patrol.service import PatrolService
    from patrol.store import open_engine, session_factory
    from patrol.worker import CameraState

    tmp = Path(tempfile.mkdtemp(prefix="lq-bench-"))
    cameras = [{"id": f"cam{i:03d}", "township": "bench", "analyse_fps": args.fps,
                "source": {"type": "rtsp", "decode": args.decode, "fast_decode": args.fast,
                           "url": f"rtsp://127.0.0.1:{args.port}/s{i % MOUNTS}"}}
               for i in range(args.first, args.first + args.n)]
    config = parse_config({"cameras": cameras, "storage": {
        "database_url": f"sqlite:///{tmp / 'e.db'}", "evidence_dir": str(tmp / "ev")}})
    engine = open_engine(config.storage.database_url)
    base_rss = proc_rss_mb(os.getpid())
    service = PatrolService(config, session_factory(engine))
    for camera in config.cameras:  # connect gradually, as a real site comes up
        service.add_worker(camera)
        time.sleep(0.05)
    time.sleep(args.warmup)
    workers = list(service.workers.values())
    analysed0 = [w.status.analysed for w in workers]
    packets0 = sum(w.refresh_state().packets for w in workers)
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(args.seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    states = [w.refresh_state() for w in workers]
    analysed = [w.status.analysed - a for w, a in zip(workers, analysed0, strict=True)]
    rss = proc_rss_mb(os.getpid())
    decoded = sum(st.frames for st in states)
    packets = sum(st.packets for st in states) - packets0
    print(json.dumps({
        "cpu_s": cpu, "wall_s": wall, "rss_mb": rss, "base_rss_mb": base_rss,
        "analysed_min": min(analysed), "due": wall * args.fps,
        "fps_min": min(st.fps for st in states),
        "live": sum(st.state is CameraState.LIVE for st in states),
        "keyframes_only": sum(st.keyframes_only for st in states), "decoded": decoded,
        "packets": packets,
        "threads": len(os.listdir("/proc/self/task")),
    }), flush=True)
    os._exit(0)  # no orderly shutdown of hundreds of threads: the figures are printed


# -- the driver -----------------------------------------------------------------------------
class Server:
    def __init__(self, stream: Path) -> None:
        from helpers import free_port

        self.port = free_port()
        cmd = ["/usr/bin/python3", str(SERVER), "--port", str(self.port)]
        for m in range(MOUNTS):
            cmd += ["--mount", f"/s{m}=file:{stream}@25"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit("the GStreamer RTSP server did not start (scripts/system-deps.sh)")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_patrol(server: Server, n: int, decode: str, fps: float, warmup: float,
               seconds: float, fast: bool = False, procs: int = 1, arenas: int = 2,
               mmap_threshold: int = 0) -> dict:
    """N cameras over ``procs`` patrol processes, measured over the same window."""
    shares = [n // procs + (i < n % procs) for i in range(procs)]
    connect = max(shares) * 0.05
    clients = []
    for i, share in enumerate(shares):
        cmd = [sys.executable, __file__, "client", "--n", str(share), "--first",
               str(sum(shares[:i])), "--decode", decode, "--fps", str(fps), "--port",
               str(server.port), "--warmup", str(warmup), "--seconds", str(seconds),
               "--malloc-arenas", str(arenas), "--mmap-threshold", str(mmap_threshold)]
        cmd += ["--fast"] if fast else []
        clients.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT))
    time.sleep(connect + warmup)
    s0, load0 = server.cpu_s(), os.getloadavg()[0]
    outs = [json.loads(c.communicate(timeout=connect + warmup + seconds + 120)[0]
                       .strip().splitlines()[-1]) for c in clients]
    load = (load0 + os.getloadavg()[0]) / 2
    result = {
        "cpu_s": sum(o["cpu_s"] for o in outs), "wall_s": max(o["wall_s"] for o in outs),
        "rss_mb": sum(o["rss_mb"] for o in outs),
        "base_rss_mb": sum(o["base_rss_mb"] for o in outs),
        "analysed_min": min(o["analysed_min"] for o in outs),
        "due": min(o["due"] for o in outs), "fps_min": min(o["fps_min"] for o in outs),
        "live": sum(o["live"] for o in outs), "decoded": sum(o["decoded"] for o in outs),
        "packets": sum(o["packets"] for o in outs),
        "server_cpu_s": server.cpu_s() - s0, "load": load, "procs": procs,
    }
    # Every camera live at the full stream rate, and analysed at its patrol rate: at most
    # two frames short of the due count (one for where the window falls, one late frame).
    keeps_up = (result["live"] == n and result["analysed_min"] >= result["due"] - 2
                and result["fps_min"] >= 24)
    mode = f"{'keyframe-only' if decode == 'keyframes' else 'full decoding'} @ {fps:g} fps"
    result |= {"n": n, "mode": mode + (", fast_decode" if fast else ""), "keeps_up": keeps_up}
    return result


def run_ffmpeg(server: Server, n: int, warmup: float, seconds: float) -> dict:
    procs = [subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-rtsp_transport", "tcp",
                               "-i", f"rtsp://127.0.0.1:{server.port}/s{i % MOUNTS}",
                               "-f", "null", "-"], stderr=subprocess.DEVNULL)
             for i in range(n)]
    time.sleep(warmup)
    c0, s0, load0 = sum(proc_cpu_s(p.pid) for p in procs), server.cpu_s(), os.getloadavg()[0]
    time.sleep(seconds)
    cpu = sum(proc_cpu_s(p.pid) for p in procs) - c0
    rss = sum(proc_rss_mb(p.pid) for p in procs)
    alive = sum(p.poll() is None for p in procs)
    result = {"n": n, "mode": "ffmpeg -f null", "cpu_s": cpu, "wall_s": seconds,
              "server_cpu_s": server.cpu_s() - s0, "rss_mb": rss, "base_rss_mb": 0.0,
              "keeps_up": alive == n and cpu / seconds < CORES * 0.95, "procs": n,
              "load": (load0 + os.getloadavg()[0]) / 2}
    for p in procs:
        p.kill()
        p.wait()
    return result


def report(r: dict) -> dict:
    # Stream-minutes actually received (25 packets a second at full rate): on a machine too
    # loaded to keep up, the cost is per stream-minute delivered, not per minute of wall.
    delivered = r.get("packets", 25 * r["n"] * r["wall_s"]) / 25 / r["n"] / r["wall_s"]
    per_min = r["cpu_s"] / r["n"] / (r["wall_s"] / 60) / max(delivered, 1e-6)
    row = {
        "setup": r["mode"], "N": r["n"], "procs": r["procs"],
        "cpu_s_per_stream_min": round(per_min, 2),
        "max_N_on_cores": int(CORES * 60 / per_min),
        "server_cpu_s_per_stream_min": round(r["server_cpu_s"] / r["n"] / (r["wall_s"] / 60), 2),
        "rss_mb_per_stream": round((r["rss_mb"] - r["base_rss_mb"]) / r["n"], 1),
        "delivered": round(delivered, 2), "keeps_up": r["keeps_up"],
        "why": {k: round(r[k], 1) for k in ("live", "analysed_min", "due", "fps_min") if k in r},
        "load": round(r["load"], 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(row), flush=True)
    return row


# name: (N, decode, analysed fps, fast_decode, processes); "ffmpeg" rows run the plain peer
ROWS = {
    "kf": (20, "keyframes", 0.5, False, 1),
    "kf-fast": (20, "keyframes", 0.5, True, 1),
    "all": (8, "all", 0.5, False, 1),
    "ffmpeg": (8, "ffmpeg", 0, False, 0),
    "k2": (20, "keyframes", 0.25, False, 1),
    "k5": (20, "keyframes", 0.1, False, 1),
    "max-p1": (None, "keyframes", 0.5, False, 1),
    "max-p2": (None, "keyframes", 0.5, False, 2),
}
QUICK = ["kf", "all", "ffmpeg", "max-p2"]


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    c = sub.add_parser("client")
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--first", type=int, default=0, help="index of the first camera")
    c.add_argument("--decode", default="auto")
    c.add_argument("--fps", type=float, default=0.5)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--warmup", type=float, default=10)
    c.add_argument("--seconds", type=float, default=30)
    c.add_argument("--fast", action="store_true", help="fast_decode (no deblocking)")
    c.add_argument("--malloc-arenas", type=int, default=2)
    c.add_argument("--mmap-threshold", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--only", help="comma-separated rows to run: " + ",".join(ROWS))
    parser.add_argument("--max-n", type=int, default=100,
                        help="the keyframe-only runs that check the target (default 100)")
    parser.add_argument("--procs", type=int, default=2,
                        help="patrol processes for --search (default 2)")
    parser.add_argument("--malloc-arenas", type=int, default=2,
                        help="glibc malloc arenas per patrol process (0: glibc's default)")
    parser.add_argument("--mmap-threshold", type=int, default=0,
                        help="glibc mmap threshold in bytes per patrol process (0: glibc's)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, help="seconds measured")
    parser.add_argument("--search", type=int, nargs="*", metavar="N",
                        help="only find the largest N that keeps up (keyframe-only, 0.5 fps), "
                        "trying these N in order until one fails")
    args = parser.parse_args()
    if args.cmd == "client":
        client(args)
        return
    stream = encode_stream()
    warm, secs = (8.0, 15.0) if args.quick else (10.0, 40.0)
    warm, secs = args.warmup or warm, args.seconds or secs
    server = Server(stream)
    rows = []
    try:
        if args.search:
            for n in args.search:
                rows.append(report(run_patrol(server, n, "keyframes", 0.5, warm, secs,
                                              procs=args.procs, arenas=args.malloc_arenas,
                                              mmap_threshold=args.mmap_threshold)))
                if not rows[-1]["keeps_up"]:
                    break
        else:
            names = args.only.split(",") if args.only else QUICK if args.quick else list(ROWS)
            for name in names:
                n, decode, fps, fast, procs = ROWS[name]
                if decode == "ffmpeg":
                    rows.append(report(run_ffmpeg(server, n, warm, secs)))
                else:
                    rows.append(report(run_patrol(server, n or args.max_n, decode, fps, warm,
                                                  secs, fast, procs, args.malloc_arenas,
                                                  args.mmap_threshold)))
    finally:
        server.stop()
    print(f"\n| setup | N | processes | CPU-s per stream-minute | N by CPU on {CORES} cores "
          "| server CPU-s/stream-min | RSS MB per stream | delivered | kept up | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['setup']} | {r['N']} | {r['procs']} | {r['cpu_s_per_stream_min']} "
              f"| {r['max_N_on_cores']} | {r['server_cpu_s_per_stream_min']} "
              f"| {r['rss_mb_per_stream']} | {r['delivered']:.0%} "
              f"| {'yes' if r['keeps_up'] else 'no'} | {r['load']} |")


if __name__ == "__main__":
    main()
