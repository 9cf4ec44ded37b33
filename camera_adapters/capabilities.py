"""Capabilities some sources have, as mixins checked with ``isinstance`` (STYLE PE4).

- :class:`PTZMixin`: a camera that can be sent to presets (ONVIF PTZ).
- :class:`RecordingStreamMixin`: a camera analysed on its sub stream whose clips are cut
  from its main stream.
- :class:`PacketSinkMixin`: a source that hands its packets on as they arrive.
- :class:`SamplingMixin`: a source told how often it will be analysed, so that it can
  decode less (keyframes only) when that is all the analysis needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from camera_adapters.frame import EncodedPacket, StreamInfo


class PTZError(RuntimeError):
    """A PTZ command failed or the camera has no PTZ; the message carries no credentials."""


@dataclass(frozen=True, slots=True)
class Preset:
    """A PTZ preset as the camera names it: ``token`` is what ``goto_preset`` takes."""

    token: str
    name: str


class PTZMixin(ABC):
    @abstractmethod
    def presets(self) -> list[Preset]:
        """The camera's presets (raises :class:`PTZError`)."""

    @abstractmethod
    def goto_preset(self, token: str) -> None:
        """Start moving to preset ``token``; returns once the camera accepted the command."""


class PacketSource(ABC):
    """A stream that is demuxed but not decoded: the main stream recorded for clips."""

    @abstractmethod
    def open(self) -> StreamInfo:
        """Connect; raises :class:`~camera_adapters.base.SourceError`."""

    @abstractmethod
    def read_packets(self) -> list[EncodedPacket]:
        """Block until the next packets arrive; raises ``SourceError`` when the stream drops."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""


class RecordingStreamMixin(ABC):
    @abstractmethod
    def recording_source(self) -> PacketSource | None:
        """The stream to cut clips from, when it is not the analysed one (else ``None``)."""


class PacketSinkMixin(ABC):
    @abstractmethod
    def set_packet_sink(self, sink: Callable[[list[EncodedPacket]], None] | None) -> None:
        """Hand every packet to ``sink`` as it arrives (at least once per GOP), instead of
        attaching them to the next decoded frame, which may be minutes away."""


class SamplingMixin(ABC):
    @abstractmethod
    def set_analysis_rate(self, fps: float) -> None:
        """The worker analyses at most ``fps`` frames per second of this source."""
