"""The ``lianqin`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from camera_adapters.secrets import mask_text
from lianqin import cli_camera, cli_model, cli_user


class _MaskingFormatter(logging.Formatter):
    """Camera passwords never reach a log line, whoever logged them."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def _logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("httpx", "httpcore", "uvicorn.error", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_config_check(args: argparse.Namespace) -> int:
    from lianqin.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for path, message in exc.errors:
            print(f"{args.file}: {path}: {message}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s)", file=sys.stderr)
        return 1
    zones = sum(len(c.zones) for c in config.cameras)
    print(f"{args.file}: OK ({len(config.cameras)} cameras, {zones} zones)")
    return 0


def cmd_config_example(_args: argparse.Namespace) -> int:
    from lianqin.config import EXAMPLE

    sys.stdout.write(EXAMPLE.read_text(encoding="utf-8"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from lianqin.demo import run_demo

    summary = run_demo(duration=args.duration, port=args.port, data_dir=args.data_dir,
                       on_url=lambda line: print(line, flush=True))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print("events:", ", ".join(f"{k} {v}" for k, v in summary["events"].items()))
        print("false events:", summary["false_events"])
        print("orders:", ", ".join(f"{k} {v}" for k, v in summary["orders"].items()) or "none")
        print("redos:", summary["redos"])
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from lianqin.config import ConfigError, load_config
    from lianqin.runtime import Runtime

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    runtime = Runtime(config, port=args.port, config_path=args.config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    url = runtime.start()
    print(f"lianqin serving on {url}/", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
    return 0


def _scale_settings(args: argparse.Namespace):  # noqa: ANN202 - lazy import
    from pydantic import ValidationError

    from patrol.scale import ScaleSettings

    overrides = {k: v for k, v in (("worker_id", getattr(args, "worker_id", None)),
                                   ("metrics_port", args.metrics_port)) if v is not None}
    try:
        return ScaleSettings(**overrides)
    except ValidationError as exc:
        for err in exc.errors():
            key = ("LIANQIN_" + "_".join(str(p) for p in err["loc"]).upper()
                   if err["loc"] else "LIANQIN_* settings")
            print(f"{key}: {err['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return None


def cmd_scale(args: argparse.Namespace) -> int:
    """``lianqin worker`` and ``lianqin central``: settings from LIANQIN_* variables."""
    from lianqin.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    settings = _scale_settings(args)
    if settings is None:
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ready = lambda line: print(line, flush=True)  # noqa: E731
    if args.command == "worker":
        from lianqin.worker import run_worker

        return run_worker(config, settings, stop, on_ready=ready)
    from lianqin.central import run_central

    return run_central(config, settings, stop, port=args.port, on_ready=ready)


def cmd_scan(args: argparse.Namespace) -> int:
    from lianqin.config import ConfigError, LianqinConfig, load_config
    from lianqin.scan import scan
    from vision.types import EventKind

    try:
        config = load_config(args.config) if args.config else LianqinConfig()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not args.path.exists():
        print(f"no such file or folder: {args.path}", file=sys.stderr)
        return 1
    kinds = [EventKind(k) for k in args.kinds] if args.kinds else list(EventKind)
    found = scan(args.path, config, kinds=kinds, fps=args.fps, interval_s=args.interval,
                 progress=not args.no_progress)
    if args.json:
        print(json.dumps([f.as_dict() for f in found]))
    else:
        for f in found:
            print(f"{f.kind:6s} {f.start_s:9.1f}s – {f.end_s:9.1f}s  confidence {f.confidence:.2f}")
        if not found:
            print("no events")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lianqin", description="Video patrol for "
                                     "joint-enforcement command centres (DB32/T 3335-2017).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything on synthetic cameras, with the console")
    demo.add_argument("--duration", type=float, default=None,
                      help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--port", type=int, default=8000, help="console port (0: a free one)")
    demo.add_argument("--json", action="store_true", help="last line: the summary as JSON")
    demo.add_argument("--data-dir", type=Path, default=Path("var/demo"),
                      help="where the demo keeps its databases and evidence (wiped at start)")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the service from a configuration file")
    serve.add_argument("config", type=Path)
    serve.add_argument("--port", type=int, default=None, help="override api.port (0: free)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="patrol a share of the cameras (scaled out; "
                            "settings from LIANQIN_* variables, see README)")
    worker.add_argument("config", type=Path)
    worker.add_argument("--worker-id", default=None, help="override LIANQIN_WORKER_ID")
    worker.add_argument("--metrics-port", type=int, default=None,
                        help="override LIANQIN_METRICS_PORT (0: free)")
    worker.set_defaults(func=cmd_scale)
    central = sub.add_parser("central", help="API, console, order bridge, dispatch core and "
                             "the workers' events from MQTT (scaled out)")
    central.add_argument("config", type=Path)
    central.add_argument("--port", type=int, default=None, help="override api.port (0: free)")
    central.add_argument("--metrics-port", type=int, default=None,
                         help="override LIANQIN_METRICS_PORT (0: free)")
    central.set_defaults(func=cmd_scale)

    scan = sub.add_parser("scan", help="analyse a video, an image or a folder of images offline")
    scan.add_argument("path", type=Path)
    scan.add_argument("--kinds", nargs="+", choices=["smoke", "dust", "stall", "crowd"])
    scan.add_argument("--config", type=Path, help="take detectors and rules from this file")
    scan.add_argument("--fps", type=float, default=2.0, help="analysed frames per video second")
    scan.add_argument("--interval", type=float, default=1.0,
                      help="seconds between images of a folder")
    scan.add_argument("--json", action="store_true", help="print a JSON list")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan.set_defaults(func=cmd_scan)

    config = sub.add_parser("config", help="configuration tools")
    csub = config.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_config_check)
    example = csub.add_parser("example", help="print the annotated example configuration")
    example.set_defaults(func=cmd_config_example)
    cli_camera.register(sub)
    cli_user.register(sub)
    cli_model.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must never reach the internet
    args = build_parser().parse_args(argv)
    _logging(args.verbose)
    if args.func.__name__ in ("cmd_demo", "cmd_serve", "cmd_scale"):
        # Before any camera thread starts: two malloc arenas instead of one per decoding
        # thread, about 9 MB less memory per 1080p camera (bench/bench_streams.py).
        from camera_adapters.rtsp import limit_malloc_arenas

        limit_malloc_arenas(2)
    sys.exit(args.func(args))
