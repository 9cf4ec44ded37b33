"""A real ONVIF camera for the tests: the PyPI package ``ipycam`` serving a moving picture.

Runs under the project's virtualenv. Prints ``ready`` once its ONVIF service, snapshot
and RTSP server listen. Everything binds ``--host`` (127.0.0.1 by default). WS-Discovery
joins a multicast group, so it stays off unless ``--discovery`` is given, which the tests
do only inside a network namespace they made themselves.

    python ipycam_camera.py --onvif-port 18080 --rtsp-port 18554 --user admin --password x
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time

import numpy as np


class _NoDiscovery:
    def __init__(self, *_args: object) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--onvif-port", type=int, required=True)
    parser.add_argument("--rtsp-port", type=int, required=True)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--discovery", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ipycam.camera as cammod
    from ipycam import CameraConfig, IPCamera

    host = args.host
    tcp_server = cammod.ReusableThreadingTCPServer
    rtsp_server = cammod.NativeRTSPServer

    class BoundHttp(tcp_server):  # type: ignore[misc, valid-type]
        def __init__(self, address, handler):  # noqa: ANN001
            super().__init__((host, address[1]), handler)

    cammod.ReusableThreadingTCPServer = BoundHttp
    cammod.NativeRTSPServer = lambda port, **_kw: rtsp_server(port=port, host=host)
    if not args.discovery:
        cammod.WSDiscoveryServer = _NoDiscovery
    config = CameraConfig(
        name="lianqin test camera", manufacturer="IPyCam", model="VirtualCam-1",
        serial_number="LQ-TEST-0001", local_ip=host, onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port, go2rtc_api_port=1, main_width=640, main_height=360,
        main_fps=10, main_bitrate="500K", sub_width=320, sub_height=180, sub_fps=10,
        sub_bitrate="200K", hw_accel="cpu", show_timestamp=False,
        username=args.user, password=args.password)
    camera = IPCamera(config)
    camera.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    frame = np.zeros((360, 640, 3), np.uint8)
    print("ready", flush=True)
    index = 0
    while not stop.is_set():
        frame[:] = 40
        x = (index * 8) % 600
        frame[150:210, x:x + 40] = (0, 200, 255)
        camera.stream(frame)
        index += 1
        time.sleep(0.1)
    camera.stop()


if __name__ == "__main__":
    main()
