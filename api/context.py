"""What the API needs from the running service, injected into the app factory."""

from __future__ import annotations

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
    orders: DispatchAdapter | None = None  # how the console reads orders
    dispatch_router: Any = None  # the embedded dispatch core's APIRouter, if embedded
    extra: dict[str, Any] = field(default_factory=dict)


def get_context(request: Request) -> AppContext:
    return request.app.state.context


def get_session(ctx: Annotated[AppContext, Depends(get_context)]):  # noqa: ANN201 - generator
    with ctx.sessions() as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session)]
