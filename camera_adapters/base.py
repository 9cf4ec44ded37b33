"""The frame-source contract every adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from camera_adapters.frame import Frame, StreamInfo
from camera_adapters.stats import IntakeStats


class SourceError(RuntimeError):
    """A source could not be opened or read. The message never contains credentials."""


class FrameSource(ABC):
    """A camera, file or synthetic scene that yields decoded frames.

    Life cycle: ``open()`` once (may raise :class:`SourceError`), ``read()`` until it
    returns ``None`` (end of a file; live sources block until the next frame), then
    ``close()``. Sources are used from a single thread.
    """

    camera_id: str

    @abstractmethod
    def open(self) -> StreamInfo:
        """Connect and return the stream description (codec, size, fps)."""

    @abstractmethod
    def read(self) -> Frame | None:
        """Return the next frame, or ``None`` when the source has ended."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    @property
    def live(self) -> bool:
        """True for sources that pace themselves in real time (cameras, realtime scenes)."""
        return False

    @property
    def intake(self) -> IntakeStats | None:
        """Packet-level figures of a network source (every packet, decoded or not), so that
        health does not depend on how often frames are decoded; ``None`` elsewhere."""
        return None

    def frames(self) -> Iterator[Frame]:
        """Iterate until the source ends."""
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveSource(FrameSource):
    """A network camera: paced in real time, its packet-level figures kept in ``_stats``."""

    _stats: IntakeStats

    @property
    def live(self) -> bool:
        return True

    @property
    def intake(self) -> IntakeStats:
        return self._stats
