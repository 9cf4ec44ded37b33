"""Value types of the dispatch core: order statuses, actions, sources, evidence kinds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

# Order kinds and unit ids travel in URLs, history rows and YAML keys: keep them plain.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class OrderStatus(StrEnum):
    """Where a work order stands in the standard's workflow (DB32/T 3335-2017 6.2, 6.3)."""

    ACCEPTED = "accepted"  # 受理 (6.2.1.1)
    DISPATCHED = "dispatched"  # 派发 to the units (6.2.2)
    FEEDBACK_RECEIVED = "feedback_received"  # a unit reported disposal (6.2.3.1)
    VERIFYING = "verifying"  # the reporter re-checks the camera
    REDO = "redo"  # not effective, first time: dispose again and report again (6.3 b)
    CLOSED = "closed"  # 结案: effective (6.3 a); final
    NOT_DISPOSED = "not_disposed"  # 未处置: not effective after a redo (6.3 b); final

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.CLOSED, OrderStatus.NOT_DISPOSED)


class Action(StrEnum):
    """What can happen to an order; each applied action is one history row."""

    ACCEPT = "accept"
    DISPATCH = "dispatch"
    FEEDBACK = "feedback"
    VERIFICATION = "verification"
    VERDICT = "verdict"  # the reporter's judgement against footage (camera orders)
    REVIEW = "review"  # the commander's judgement (orders without a camera)


class Source(StrEnum):
    """Where an order came from (standard 6.1 a–d)."""

    VIDEO_PATROL = "video_patrol"  # a) video-patrol by a command centre
    UNIT = "unit"  # b) a participating unit
    PATROL_TEAM = "patrol_team"  # c) the joint-enforcement team on grid patrol
    PUBLIC_110 = "public_110"  # d) the public: 110 alarm
    PUBLIC_HOTLINE = "public_hotline"  # d) government service hotline
    PUBLIC_ONLINE = "public_online"  # d) online reports and opinion


class EvidenceKind(StrEnum):
    SNAPSHOT = "snapshot"
    CLIP = "clip"
    PHOTO = "photo"


class EvidencePhase(StrEnum):
    BEFORE = "before"  # raised with the order
    AFTER = "after"  # footage after disposal, attached with a verdict
    FEEDBACK = "feedback"  # photos a unit sent with its disposal report
