"""ONVIF through onvif-zeep against ipycam (a real ONVIF device on 127.0.0.1), PTZ presets
against a stand-in, WS-Discovery inside network namespaces made by the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from helpers import require
from standins import PtzStandin

from camera_adapters.capabilities import PTZError
from camera_adapters.discovery import parse_probe_matches
from camera_adapters.onvif import OnvifDevice, OnvifSource, OnvifSourceConfig


def test_profiles_stream_and_snapshot_uris(ipycam_device):
    device = OnvifDevice("127.0.0.1", ipycam_device.onvif_port, "admin", ipycam_device.password,
                         timeout_s=10).connect()
    assert device.information()["Manufacturer"] == "IPyCam"
    profiles = device.profiles()
    assert [(p.width, p.height) for p in profiles] == [(640, 360), (320, 180)]
    assert device.stream_uri(profiles[1].token) == \
        f"rtsp://127.0.0.1:{ipycam_device.rtsp_port}/video_sub"
    assert device.snapshot_uri(profiles[0].token).endswith("/snapshot.jpg")
    assert device.snapshot(profiles[0].token).shape == (360, 640, 3)
    # ipycam answers GetPresets with an undeclared XML prefix: a clear PTZ error, masked
    with pytest.raises(PTZError) as info:
        device.presets(profiles[0].token)
    assert ipycam_device.password not in str(info.value)


def test_wrong_password_is_refused_and_masked(ipycam_device):
    with pytest.raises(Exception) as info:
        OnvifDevice("127.0.0.1", ipycam_device.onvif_port, "admin", "Not-The-Pass9",
                    timeout_s=10).connect().profiles()
    assert "Not-The-Pass9" not in str(info.value)


def test_onvif_source_reads_the_sub_profile(ipycam_device):
    source = OnvifSource("cam", OnvifSourceConfig(
        host="127.0.0.1", port=ipycam_device.onvif_port, username="admin",
        password=ipycam_device.password, profile="MainStream", sub_profile="SubStream",
        connect_timeout_s=10))
    info = source.open()
    try:
        frame = source.read()
    finally:
        source.close()
    assert (info.width, info.height) == (320, 180) and frame.image.shape == (180, 320, 3)
    assert source.recording_source() is not None  # clips come from MainStream


@pytest.fixture
def ptz_standin(ipycam_device):
    standin = PtzStandin(f"http://127.0.0.1:{ipycam_device.onvif_port}", "admin",
                         ipycam_device.password)
    standin.start()
    yield standin
    standin.stop()


def test_presets_list_and_goto(ptz_standin):
    source = OnvifSource("cam", OnvifSourceConfig(
        host="127.0.0.1", port=ptz_standin.port, username="admin",
        password=ptz_standin.password, connect_timeout_s=10))
    presets = source.presets()
    assert [(p.token, p.name) for p in presets] == [("1", "东侧麦田"), ("2", "村口")]
    source.goto_preset("2")
    source.goto_preset("1")
    assert ptz_standin.gotos == ["2", "1"]
    with pytest.raises(PTZError, match="No such preset 9"):
        source.goto_preset("9")


def test_probe_lists_profiles_and_presets_as_one_json_object(ptz_standin, tmp_path):
    from urllib.parse import quote

    url = f"onvif://admin:{quote(ptz_standin.password, safe='')}@127.0.0.1:{ptz_standin.port}"
    out = subprocess.run([sys.executable, "-m", "lianqin", "camera", "probe", url, "--json",
                          "--snapshot", str(tmp_path / "snap.jpg")],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["codec"], result["width"], result["height"]) == ("h264", 640, 360)
    assert result["gop_frames"] and result["transport"] == "tcp"
    assert [p["token"] for p in result["onvif"]["presets"]] == ["1", "2"]
    assert len(result["onvif"]["profiles"]) == 2
    assert (tmp_path / "snap.jpg").stat().st_size > 0
    assert ptz_standin.password not in out.stdout + out.stderr
    assert quote(ptz_standin.password, safe="") not in out.stdout + out.stderr


def test_probe_of_an_unreachable_camera_fails_clearly():
    out = subprocess.run([sys.executable, "-m", "lianqin", "camera", "probe",
                          "rtsp://admin:Hidden-Pw7@127.0.0.1:1/x", "--json", "--timeout", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    error = json.loads(out.stdout)["error"]
    assert "refused" in error.lower() and "Hidden-Pw7" not in out.stdout + out.stderr


PROBE_MATCH = b"""<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">
<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:cam-1</a:Address>
</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/name/Gate%20East onvif://www.onvif.org/hardware/DS-2CD</d:Scopes>
<d:XAddrs>http://192.0.2.7:8000/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches>
</s:Body></s:Envelope>"""


def test_probe_match_parsing():
    [device] = parse_probe_matches(PROBE_MATCH, "192.0.2.7")
    assert (device.host, device.port, device.scope("name"), device.scope("hardware")) == \
        ("192.0.2.7", 8000, "Gate East", "DS-2CD")
    assert parse_probe_matches(b"not xml") == []


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def camera_network():
    """Two network namespaces joined by a veth pair (192.0.2.0/24, TEST-NET-1): a camera
    side and a client side. Multicast never reaches the machine's own network."""
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "root and iproute2 for ip netns")
    tag = uuid.uuid4().hex[:6]
    cam, cli = f"lqcam{tag}", f"lqcli{tag}"
    _ip("netns", "add", cam)
    _ip("netns", "add", cli)
    try:
        _ip("link", "add", f"vc{tag}", "type", "veth", "peer", "name", f"vl{tag}")
        _ip("link", "set", f"vc{tag}", "netns", cam)
        _ip("link", "set", f"vl{tag}", "netns", cli)
        for ns, dev, addr in ((cam, f"vc{tag}", "192.0.2.1/24"), (cli, f"vl{tag}", "192.0.2.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield cam, cli
    finally:
        subprocess.run(["ip", "netns", "del", cam], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", cli], capture_output=True, timeout=10)


def test_discover_finds_the_camera_inside_a_namespace(camera_network):
    from peers import IpyCam, ipycam_available

    require(ipycam_available(), "ipycam (pip: the test extra) and ffmpeg")
    cam_ns, cli_ns = camera_network
    camera = IpyCam("admin", "On@vif-9")
    camera.start(netns=cam_ns, host="192.0.2.1", discovery=True)
    try:
        time.sleep(0.5)
        out = subprocess.run(["ip", "netns", "exec", cli_ns, sys.executable, "-m", "lianqin",
                              "camera", "discover", "--json", "--timeout", "3"],
                             capture_output=True, text=True, timeout=60,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    finally:
        camera.stop()
    assert out.returncode == 0, out.stderr
    devices = json.loads(out.stdout)
    assert [(d["host"], d["port"]) for d in devices] == [("192.0.2.1", camera.onvif_port)]
    assert devices[0]["xaddrs"][0].endswith("/onvif/device_service")
