"""The embedded dispatch core: the work-order lifecycle of DB32/T 3335-2017.

Other packages reach it only over HTTP (``create_router`` mounted under
``/api/dispatch``, or ``create_app`` as a process of its own); it imports none of them.
"""

from dispatch.api import create_router
from dispatch.app import create_app
from dispatch.config import DispatchConfig, RouteConfig, UnitConfig
from dispatch.service import DispatchService
from dispatch.store import downgrade, open_engine, upgrade
from dispatch.supervisor import Supervisor, start_supervisor
from dispatch.types import (
    Action,
    DutyStatus,
    EvidenceKind,
    EvidencePhase,
    OrderStatus,
    Scope,
    Source,
)

__all__ = [
    "Action",
    "DispatchConfig",
    "DispatchService",
    "DutyStatus",
    "EvidenceKind",
    "EvidencePhase",
    "OrderStatus",
    "RouteConfig",
    "Scope",
    "Source",
    "Supervisor",
    "UnitConfig",
    "create_app",
    "create_router",
    "downgrade",
    "open_engine",
    "start_supervisor",
    "upgrade",
]
