"""What the API needs from the running service, injected into the app factory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DispatchAdapter
from patrol.config import PatrolConfig
from patrol.service import PatrolService


@dataclass
class AppContext:
    config: PatrolConfig
    sessions: sessionmaker[Session]
    evidence_dir: Path
    patrol: PatrolService | None = None  # None when the API runs without camera workers
    orders: DispatchAdapter | None = None  # how the bridge reads orders (kept for callers)
    dispatch_router: Any = None  # the embedded dispatch core's APIRouter, if embedded
    # The dispatch core's API as the console calls it (orders, feedback, review, stats).
    dispatch_url: str | None = None
    dispatch_token: str | None = None  # bearer token sent to dispatch_url
    # sha256 of in-process service tokens (the order bridge, the demo's staff); not stored.
    service_token_hashes: frozenset[str] = frozenset()
    config_path: Path | None = None  # the YAML file zone edits are written to
    public_url: str = ""  # prefix of evidence URLs handed to the dispatch side
    shutdown: threading.Event = field(default_factory=threading.Event)  # ends live streams
    extra: dict[str, Any] = field(default_factory=dict)


def get_context(request: Request) -> AppContext:
    return request.app.state.context


def get_session(ctx: Annotated[AppContext, Depends(get_context)]):  # noqa: ANN201 - generator
    with ctx.sessions() as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session)]
