"""Source configurations as one discriminated union, and the factory that builds sources."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from camera_adapters.base import FrameSource
from camera_adapters.file import FileSource, FileSourceConfig, ImagesSource, ImagesSourceConfig
from camera_adapters.synthetic import SyntheticSource, SyntheticSourceConfig

SourceConfig = Annotated[
    SyntheticSourceConfig | FileSourceConfig | ImagesSourceConfig,
    Field(discriminator="type"),
]

_BUILDERS: dict[type, type[FrameSource]] = {
    SyntheticSourceConfig: SyntheticSource,
    FileSourceConfig: FileSource,
    ImagesSourceConfig: ImagesSource,
}


def build_source(camera_id: str, config: SyntheticSourceConfig | FileSourceConfig | ImagesSourceConfig) -> FrameSource:
    """A new, unopened source for ``config``."""
    return _BUILDERS[type(config)](camera_id, config)  # type: ignore[call-arg]
