"""Real peers on loopback for the camera-adapter tests, as child processes: Debian's
GStreamer RTSP server and ipycam as an ONVIF device. (A module of its own, not conftest:
``from conftest import`` would find another package's conftest in a full run.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from helpers import free_port

HERE = Path(__file__).parent
SYSTEM_PYTHON = "/usr/bin/python3"
GST_SERVER = HERE / "gst_rtsp_server.py"
IPYCAM = HERE / "ipycam_camera.py"
RTSP_USER, RTSP_PASSWORD = "admin", "Rt$p@ss/9"


def gst_available() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import GstRtspServer; from gi.repository import Gst; Gst.init(None); "
         "assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay')"],
        capture_output=True, timeout=30)
    return probe.returncode == 0


def wait_line(proc: subprocess.Popen, word: str, timeout: float = 20.0) -> str:
    """Read the child's stdout until a line starting with ``word`` (or fail with its stderr)."""
    deadline = time.monotonic() + timeout
    result: list[str] = []

    found = threading.Event()

    def read() -> None:  # drains stdout to the end, so that the child never blocks on it
        for line in proc.stdout:  # type: ignore[union-attr]
            if not found.is_set() and line.startswith(word):
                result.append(line)
                found.set()

    threading.Thread(target=read, daemon=True).start()
    found.wait(max(0.0, deadline - time.monotonic()))
    if not result:
        proc.kill()
        err = ""
        if getattr(proc, "stderr_file", None) is not None:
            proc.stderr_file.seek(0)
            err = proc.stderr_file.read().decode(errors="replace")
        raise RuntimeError(f"{proc.args[:3]} did not print {word!r}: {err[-2000:]}")
    return result[0]


def spawn(cmd: list[str], **kwargs: object) -> subprocess.Popen:
    """A child whose stdout we read and whose stderr goes to a file (a pipe nobody reads
    would fill up and block it)."""
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
                            **kwargs)
    proc.stderr_file = stderr_file  # type: ignore[attr-defined]
    return proc


class GstRtspServer:
    """The GStreamer RTSP server as a child process that can be killed and started again
    on the same port."""

    def __init__(self, mounts: dict[str, str], *, user: str | None = RTSP_USER,
                 password: str | None = RTSP_PASSWORD) -> None:
        self.port = free_port()
        self.mounts, self.user, self.password = mounts, user, password
        self.proc: subprocess.Popen | None = None

    def url(self, mount: str, *, credentials: bool = False) -> str:
        auth = ""
        if credentials and self.user:
            from urllib.parse import quote
            auth = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@"
        return f"rtsp://{auth}127.0.0.1:{self.port}{mount}"

    def start(self) -> None:
        cmd = [SYSTEM_PYTHON, str(GST_SERVER), "--port", str(self.port)]
        for path, spec in self.mounts.items():
            cmd += ["--mount", f"{path}={spec}"]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        self.proc = spawn(cmd)
        wait_line(self.proc, "ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class IpyCam:
    def __init__(self, user: str, password: str) -> None:
        self.onvif_port, self.rtsp_port = free_port(), free_port()
        self.user, self.password = user, password
        self.proc: subprocess.Popen | None = None

    def start(self, *, netns: str | None = None, host: str = "127.0.0.1",
              discovery: bool = False) -> None:
        cmd = [sys.executable, str(IPYCAM), "--host", host, "--onvif-port", str(self.onvif_port),
               "--rtsp-port", str(self.rtsp_port), "--user", self.user,
               "--password", self.password]
        if discovery:
            cmd.append("--discovery")
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        self.proc = spawn(cmd, cwd=HERE)
        wait_line(self.proc, "ready", timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def ipycam_available() -> bool:
    try:
        import ipycam  # noqa: F401
    except ImportError:
        return False
    return shutil.which("ffmpeg") is not None
