"""``lianqin camera probe`` and ``lianqin camera discover``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from camera_adapters.secrets import mask_text


def cmd_probe(args: argparse.Namespace) -> int:
    from camera_adapters.base import SourceError
    from camera_adapters.probe import probe
    from lianqin.config import ConfigError, load_config

    config = None
    if args.config is not None:
        try:
            site = load_config(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        try:
            config = site.camera(args.target).source
        except KeyError:
            if "://" not in args.target:
                print(f"no camera {args.target!r} in {args.config}", file=sys.stderr)
                return 1
    elif "://" not in args.target:
        print(f"{args.target!r} is not a URL; give --config to probe a configured camera",
              file=sys.stderr)
        return 1
    snapshot = args.snapshot or Path(f"probe-{_safe(args.target)}.jpg")
    try:
        result = probe(args.target, config=config, snapshot=snapshot, transport=args.transport,
                       timeout_s=args.timeout)
    except (SourceError, ValueError) as exc:
        message = mask_text(str(exc))
        if args.json:
            print(json.dumps({"error": message}, ensure_ascii=False))
        else:
            print(f"probe failed: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    print(f"{result.source}")
    print(f"  codec {result.codec}  {result.width}x{result.height}  {result.fps:g} fps"
          f" (measured {result.measured_fps})  GOP {result.gop_frames} frames ({result.gop_s} s)")
    print(f"  transport {result.transport}  bitrate {result.bitrate_kbps} kbit/s")
    print(f"  snapshot {result.snapshot}")
    if result.onvif:
        device = result.onvif["device"]
        print(f"  ONVIF {device['Manufacturer']} {device['Model']} (firmware "
              f"{device['FirmwareVersion']}, serial {device['SerialNumber']})")
        for p in result.onvif["profiles"]:
            print(f"    profile {p['token']} {p['name']}: {p['encoding']} {p['width']}x"
                  f"{p['height']}  {p['stream_uri']}")
        presets = result.onvif.get("presets")
        if presets is None:
            print(f"    no PTZ presets ({result.onvif.get('ptz_error')})")
        else:
            print("    presets: " + (", ".join(f"{p['token']} {p['name']}" for p in presets)
                                     or "none"))
    return 0


def _safe(target: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(target)
    name = parts.hostname or target
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def cmd_discover(args: argparse.Namespace) -> int:
    from camera_adapters.discovery import discover

    try:
        devices = discover(args.timeout, interface_ip=args.interface)
    except OSError as exc:
        print(f"discovery failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([d.as_dict() for d in devices], ensure_ascii=False))
        return 0
    for d in devices:
        print(f"{d.host}:{d.port}  {d.scope('name') or '?'}  ({d.scope('hardware') or '?'})  "
              f"{' '.join(d.xaddrs)}")
    print(f"{len(devices)} device(s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    camera = subparsers.add_parser("camera", help="camera tools: probe a stream, discover ONVIF")
    csub = camera.add_subparsers(dest="camera_command", required=True)
    probe = csub.add_parser("probe", help="connect to a camera and describe its stream")
    probe.add_argument("target", help="rtsp://..., http(s)://..., onvif://user:pass@host:port, "
                       "or a camera id of --config")
    probe.add_argument("--config", type=Path, help="site configuration (for a camera id)")
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.add_argument("--snapshot", type=Path, help="where to save the snapshot "
                       "(default probe-HOST.jpg)")
    probe.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
    probe.add_argument("--timeout", type=float, default=10.0, help="seconds")
    probe.set_defaults(func=cmd_probe)
    disc = csub.add_parser("discover", help="find ONVIF cameras with WS-Discovery (multicast)")
    disc.add_argument("--timeout", type=float, default=3.0, help="seconds to listen")
    disc.add_argument("--interface", help="IPv4 address of the interface to probe from")
    disc.add_argument("--json", action="store_true", help="print a JSON list")
    disc.set_defaults(func=cmd_discover)
