#!/bin/sh
# Debian packages the tests need: installed when missing (as root, or through sudo).
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
command -v ffprobe >/dev/null 2>&1 || need="$need ffmpeg"
# A Chinese font, so that the console's screenshots show text instead of boxes.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need="$need fonts-wqy-microhei"
[ -z "$need" ] && exit 0
echo "installing Debian packages:$need" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need
