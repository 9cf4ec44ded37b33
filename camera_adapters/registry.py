"""Source configurations as one discriminated union, and the factory that builds sources."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from camera_adapters.base import FrameSource
from camera_adapters.file import FileSource, FileSourceConfig, ImagesSource, ImagesSourceConfig
from camera_adapters.gb28181 import Gb28181Source, Gb28181SourceConfig
from camera_adapters.http import HttpSnapshotSource, HttpSnapshotSourceConfig
from camera_adapters.mock import MockPTZSource, MockSourceConfig
from camera_adapters.onvif import OnvifSource, OnvifSourceConfig
from camera_adapters.rtsp import RtspSource, RtspSourceConfig
from camera_adapters.synthetic import SyntheticSource, SyntheticSourceConfig

AnySourceConfig = (SyntheticSourceConfig | FileSourceConfig | ImagesSourceConfig
                   | RtspSourceConfig | OnvifSourceConfig | Gb28181SourceConfig
                   | HttpSnapshotSourceConfig | MockSourceConfig)
SourceConfig = Annotated[AnySourceConfig, Field(discriminator="type")]

_BUILDERS: dict[type, type[FrameSource]] = {
    SyntheticSourceConfig: SyntheticSource,
    FileSourceConfig: FileSource,
    ImagesSourceConfig: ImagesSource,
    RtspSourceConfig: RtspSource,
    OnvifSourceConfig: OnvifSource,
    Gb28181SourceConfig: Gb28181Source,
    HttpSnapshotSourceConfig: HttpSnapshotSource,
    MockSourceConfig: MockPTZSource,
}


def build_source(camera_id: str, config: AnySourceConfig) -> FrameSource:
    """A new, unopened source for ``config``."""
    return _BUILDERS[type(config)](camera_id, config)  # type: ignore[call-arg]
