"""Assessment scores per participating unit and per township (standard 8.3-8.4).

Each rate is worth 0-100 points; the score is their weighted mean over the rates that
exist (``AssessmentConfig``). Redo and not-disposed rates count inverted: fewer is better.

Example:
    >>> from dispatch.config import AssessmentConfig
    >>> m = Metrics(total=4, closed=3, not_disposed=1, copied=0, overdue=0, escalated=0,
    ...             supervised=0, closure_rate=0.75, on_time_rate=1.0,
    ...             mean_time_to_close_s=600.0, redo_rate=0.25, not_disposed_rate=0.25,
    ...             verification_pass_rate=None)
    >>> score(m, AssessmentConfig())
    83.82
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy.orm import Session

from dispatch import stats
from dispatch.config import AssessmentConfig, DispatchConfig
from dispatch.schemas import Assessment, AssessmentRow, Metrics


def score(metrics: Metrics, weights: AssessmentConfig) -> float | None:
    """0-100, rounded to two places; None when the metrics hold no rate at all."""
    parts = {
        "on_time": metrics.on_time_rate,
        "closure": metrics.closure_rate,
        "verification": metrics.verification_pass_rate,
        "no_redo": None if metrics.redo_rate is None else 1 - metrics.redo_rate,
        "disposed": None if metrics.not_disposed_rate is None else 1 - metrics.not_disposed_rate,
    }
    weighted = [(getattr(weights, k), v) for k, v in parts.items() if v is not None]
    total_weight = sum(w for w, _ in weighted)
    if not total_weight:
        return None
    return round(100 * sum(w * v for w, v in weighted) / total_weight, 2)


def assess(
    session: Session,
    config: DispatchConfig,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> Assessment:
    rows, verdicts = stats.load(session, since=since, until=until)
    weights = config.assessment

    def table(group_by: str, name: dict[str, str]) -> list[AssessmentRow]:
        groups = stats.grouped(rows, verdicts, group_by, now=now, local=now.tzinfo)  # type: ignore[arg-type]
        answer = [
            AssessmentRow(key=k, name=name.get(k, k), score=score(m, weights), **m.model_dump())
            for k, m in groups.items()
        ]
        return sorted(answer, key=lambda r: (r.score is None, -(r.score or 0), r.key))

    return Assessment(
        since=since,
        until=until,
        weights=weights.model_dump(),
        units=table("unit", {uid: u.name for uid, u in config.units.items()}),
        townships=table("township", {}),
    )


def to_csv(assessment: Assessment) -> str:
    """Units then townships, best score first: ``level,key,name,score,<metrics>``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = stats.METRIC_FIELDS
    writer.writerow(["level", "key", "name", "score", *fields])
    for level, rows in (("unit", assessment.units), ("township", assessment.townships)):
        for row in rows:
            cells = [stats.cell(getattr(row, f)) for f in ("score", *fields)]
            writer.writerow([level, row.key, row.name, *cells])
    return out.getvalue()
