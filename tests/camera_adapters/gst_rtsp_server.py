"""A real RTSP server for the tests and benchmarks: Debian's GStreamer RTSP server.

Runs under the *system* Python (``/usr/bin/python3``, which has ``python3-gi``), never the
project's virtualenv. Prints ``ready PORT`` once it listens, then serves until killed.

    /usr/bin/python3 gst_rtsp_server.py --port 8554 \
        --mount /main=pattern:640x360@10/10 --mount /sub=pattern:320x180@10/10 \
        --mount /file=file:/tmp/clip.h264@25

- ``pattern:WxH@FPS/GOP``: a live test picture (a moving ball) encoded with x264.
- ``file:PATH@FPS``: a pre-encoded H.264 Annex-B file, looped, nothing encoded while serving.

Both TCP (interleaved) and UDP transports are offered; the client chooses. ``--user``
and ``--password`` require Basic authentication for every mount.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(spec):
    kind, _, rest = spec.partition(":")
    if kind == "pattern":
        size, _, rates = rest.partition("@")
        width, height = size.split("x")
        fps, _, gop = rates.partition("/")
        return (f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},"
                f"height={height},framerate={fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast "
                f"key-int-max={gop or fps} bframes=0 ! video/x-h264,profile=baseline "
                f"! rtph264pay name=pay0 pt=96 config-interval=-1 )")
    if kind == "file":
        path, _, fps = rest.rpartition("@")
        # h264parse gives a raw stream decoding times only; the probe below copies them to
        # the presentation times (no B-frames), which the RTP payloader needs.
        return (f"( multifilesrc location={path} loop=true "
                f"caps=video/x-h264,stream-format=byte-stream,framerate={fps}/1 "
                f"! h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
    raise SystemExit(f"unknown mount spec {spec!r}")


def _pts_from_dts(_pad, info):
    buffer = info.get_buffer()
    if buffer.pts == Gst.CLOCK_TIME_NONE:
        buffer.pts = buffer.dts
    return Gst.PadProbeReturn.OK


def _on_media(_factory, media):
    parse = media.get_element().get_by_name("parse")
    if parse is not None:
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _pts_from_dts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--mount", action="append", required=True, help="/path=spec")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--unshared", action="store_true",
                        help="one pipeline per client instead of one per mount")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for item in args.mount:
        path, _, spec = item.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(spec))
        factory.connect("media-configure", _on_media)
        factory.set_shared(not args.unshared)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            for permission in (GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
                               GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT):
                permissions.add_permission_for_role("user", permission, True)
            factory.set_permissions(permissions)
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr, flush=True)
        sys.exit(2)
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print(f"ready {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
