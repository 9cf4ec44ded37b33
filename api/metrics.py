"""Prometheus metrics of the camera workers, collected when scraped (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from patrol.service import PatrolService
from patrol.worker import CameraState


class PatrolCollector(Collector):
    """Reads every worker's health at scrape time; nothing is pushed from camera threads."""

    def __init__(self, patrol: PatrolService | None) -> None:
        self.patrol = patrol

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        workers = self.patrol.workers if self.patrol is not None else {}
        state = GaugeMetricFamily("lianqin_camera_state", "1 for the camera's current health state",
                                  labels=["camera", "state"])
        up = GaugeMetricFamily("lianqin_camera_up", "1 while the camera delivers packets",
                               labels=["camera"])
        fps = GaugeMetricFamily("lianqin_camera_fps", "Stream frame rate (packets per second)",
                                labels=["camera"])
        bitrate = GaugeMetricFamily("lianqin_camera_bitrate_bps", "Stream bitrate, bits per second",
                                    labels=["camera", "stream"])
        last = GaugeMetricFamily("lianqin_camera_last_frame_timestamp_seconds",
                                 "UNIX time of the last packet or frame", labels=["camera"])
        keyframes = GaugeMetricFamily("lianqin_camera_keyframes_only",
                                      "1 when only keyframes are decoded", labels=["camera"])
        frames = CounterMetricFamily("lianqin_camera_frames_decoded",
                                     "Pictures decoded", labels=["camera"])
        packets = CounterMetricFamily("lianqin_camera_packets", "Packets received",
                                      labels=["camera"])
        received = CounterMetricFamily("lianqin_camera_received_bytes", "Bytes received",
                                       labels=["camera"])
        analysed = CounterMetricFamily("lianqin_camera_frames_analysed", "Pictures analysed",
                                       labels=["camera"])
        reconnects = CounterMetricFamily("lianqin_camera_reconnects", "Reconnections",
                                         labels=["camera"])
        for cid, worker in sorted(workers.items()):
            st = worker.refresh_state()
            for s in CameraState:
                state.add_metric([cid, s.value], 1.0 if st.state is s else 0.0)
            up.add_metric([cid], 1.0 if st.state is CameraState.LIVE else 0.0)
            fps.add_metric([cid], st.fps)
            bitrate.add_metric([cid, "analysed"], st.bitrate_bps)
            if st.record_state is not None:
                bitrate.add_metric([cid, "main"], st.record_bitrate_bps)
            if st.last_frame_wall is not None:
                last.add_metric([cid], st.last_frame_wall)
            keyframes.add_metric([cid], 1.0 if st.keyframes_only else 0.0)
            frames.add_metric([cid], st.frames)
            packets.add_metric([cid], st.packets)
            received.add_metric([cid], st.bytes)
            analysed.add_metric([cid], st.analysed)
            reconnects.add_metric([cid], st.reconnects)
        yield from (state, up, fps, bitrate, last, keyframes, frames, packets, received,
                    analysed, reconnects)


def patrol_registry(patrol: PatrolService | None) -> CollectorRegistry:
    """A registry of its own per app, so that tests can build many apps in one process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PatrolCollector(patrol))
    return registry
