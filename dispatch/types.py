"""Value types of the dispatch core: order statuses, actions, sources, evidence kinds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

# Order kinds and unit ids travel in URLs, history rows and YAML keys: keep them plain.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class OrderStatus(StrEnum):
    """Where a work order stands in the standard's workflow (DB32/T 3335-2017 6.2, 6.3)."""

    FOLLOW_UP = "follow_up"  # described unclearly: the centre follows it up first (6.2.1.1)
    ACCEPTED = "accepted"  # 受理 (6.2.1.1)
    DISPATCHED = "dispatched"  # 派发 to the units (6.2.2)
    FEEDBACK_RECEIVED = "feedback_received"  # a unit reported disposal (6.2.3.1)
    VERIFYING = "verifying"  # the reporter re-checks the camera
    REDO = "redo"  # not effective, first time: dispose again and report again (6.3 b)
    CLOSED = "closed"  # 结案: effective (6.3 a); final
    NOT_DISPOSED = "not_disposed"  # 未处置: not effective after a redo (6.3 b); final
    COPIED = "copied"  # 抄送: not joint-enforcement work, copied to its department (6.2.1.1); final

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({OrderStatus.CLOSED, OrderStatus.NOT_DISPOSED, OrderStatus.COPIED})


class Action(StrEnum):
    """What can happen to an order; each applied action is one history row."""

    ACCEPT = "accept"
    DISPATCH = "dispatch"
    FEEDBACK = "feedback"
    VERIFICATION = "verification"
    VERDICT = "verdict"  # the reporter's judgement against footage (camera orders)
    REVIEW = "review"  # the commander's judgement (orders without a camera)
    FOLLOW_UP = "follow_up"  # intake of an unclear report: follow it up before accepting
    COMPLETE = "complete"  # the follow-up is complete: accept (or copy) the order
    COPY = "copy"  # out of scope: copied to the competent department
    INSTRUCT = "instruct"  # out of scope but urgent: first response, department instructed
    ASSIGN = "assign"  # a patrol member takes the order first (6.2.1.2.2 a)
    ESCALATE = "escalate"  # level 1 → level 2, the county centre (6.2.1.2.3)
    HANDOVER = "handover"  # patrol member → departments, or to other units (6.2.1.2.2 b)
    REINFORCE = "reinforce"  # units or neighbouring grids' patrol members join (6.2.3.2)
    SUPERVISE = "supervise"  # 督办: the centre instructs, may order joint disposal (6.2.4)
    REMIND = "remind"  # 催办: a reminder to the units, recorded
    OVERDUE = "overdue"  # the supervisor found the time limit passed


class Source(StrEnum):
    """Where an order came from (standard 6.1 a–d)."""

    VIDEO_PATROL = "video_patrol"  # a) video-patrol by a command centre
    UNIT = "unit"  # b) a participating unit
    PATROL_TEAM = "patrol_team"  # c) the joint-enforcement team on grid patrol
    PUBLIC_110 = "public_110"  # d) the public: 110 alarm
    PUBLIC_HOTLINE = "public_hotline"  # d) government service hotline
    PUBLIC_ONLINE = "public_online"  # d) online reports and opinion


class Scope(StrEnum):
    """Acceptance (standard 6.2.1.1): is this joint-enforcement work?"""

    IN_SCOPE = "in_scope"  # accept and dispatch
    UNCLEAR = "unclear"  # described unclearly: follow up first
    OUT_OF_SCOPE = "out_of_scope"  # copy to the competent department (urgent: respond first)


class Campaign(StrEnum):
    """Who organises a concentrated campaign (集中整治) the order belongs to."""

    TOWNSHIP = "township"  # level 1 (6.2.1.2.2 d)
    COUNTY = "county"  # level 2 (6.2.1.2.3 b)


class DutyStatus(StrEnum):
    """A patrol member's duty status (勤务状况, standard 7.1.1.4)."""

    ON_DUTY = "on_duty"  # on patrol, can take an order
    BUSY = "busy"  # disposing of an order
    OFF = "off"  # off duty


class MemberRole(StrEnum):
    FIRST = "first"  # the grid's member who took the order first
    REINFORCEMENT = "reinforcement"  # sent from a neighbouring grid on request


class EvidenceKind(StrEnum):
    SNAPSHOT = "snapshot"
    CLIP = "clip"
    PHOTO = "photo"


class EvidencePhase(StrEnum):
    BEFORE = "before"  # raised with the order
    AFTER = "after"  # footage after disposal, attached with a verdict
    FEEDBACK = "feedback"  # photos a unit sent with its disposal report
