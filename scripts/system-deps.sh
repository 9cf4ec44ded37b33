#!/bin/sh
# Debian packages the tests need: installed when missing (as root, or through sudo).
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
command -v ffprobe >/dev/null 2>&1 || need="$need ffmpeg"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
# PostgreSQL server binaries: the dispatch and scale tests start their own server.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need="$need postgresql"
# mosquitto: the order-bridge and scale tests start their own broker.
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$need mosquitto"
# docker-compose: the scale tests validate docker/'s compose files (no daemon needed).
command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose"
# A Chinese font, so that the console's screenshots show text instead of boxes.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need="$need fonts-wqy-microhei"
# The real RTSP server of the camera-adapter tests: GStreamer's, run by the system Python.
if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); \
from gi.repository import Gst, GstRtspServer; Gst.init(None); \
assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay') \
and Gst.ElementFactory.find('h264parse') and Gst.ElementFactory.find('videotestsrc')" \
        >/dev/null 2>&1; then
    need="$need python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base"
    need="$need gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly"
fi
[ -z "$need" ] && exit 0
echo "installing Debian packages:$need" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need
