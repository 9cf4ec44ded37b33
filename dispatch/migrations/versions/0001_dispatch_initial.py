"""dispatch core: orders, assigned units, history, feedback, evidence

Revision ID: 0001_dispatch_initial
Revises:
Create Date: 2026-11-27

Frozen: later changes go into new revisions. Enumerations are VARCHAR(32) without CHECK
constraints, so adding a status or source needs no table rebuild.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_dispatch_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _enum() -> sa.String:
    return sa.String(length=32)


def _order_fk() -> sa.Column:
    return sa.Column(
        "order_id",
        sa.Integer(),
        sa.ForeignKey("dispatch_orders.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "dispatch_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("source", _enum(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("township", sa.String(length=64), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("camera_id", sa.String(length=128), nullable=True),
        sa.Column("zone_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("centre", sa.String(length=128), nullable=False),
        sa.Column("lead_unit", sa.String(length=64), nullable=False),
        sa.Column("deadline", _utc(), nullable=False),
        sa.Column("status", _enum(), nullable=False),
        sa.Column("redo_count", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.CheckConstraint("level IN (1, 2)", name=op.f("ck_dispatch_orders_level")),
        sa.CheckConstraint("redo_count >= 0", name=op.f("ck_dispatch_orders_redo_count")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_orders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_dispatch_orders_idempotency_key")),
    )
    for column in ("camera_id", "created_at", "township", "updated_at"):
        op.create_index(f"ix_dispatch_orders_{column}", "dispatch_orders", [column])
    op.create_index(
        "ix_dispatch_orders_status_created_at", "dispatch_orders", ["status", "created_at"]
    )

    op.create_table(
        "dispatch_order_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        _order_fk(),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_order_feedback")),
    )
    op.create_index("ix_dispatch_order_feedback_order_id", "dispatch_order_feedback", ["order_id"])

    op.create_table(
        "dispatch_order_history",
        sa.Column("id", sa.Integer(), nullable=False),
        _order_fk(),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", _enum(), nullable=True),
        sa.Column("to_status", _enum(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_order_history")),
        sa.UniqueConstraint(
            "order_id",
            "request_key",
            name=op.f("uq_dispatch_order_history_order_id_request_key"),
        ),
    )
    op.create_index("ix_dispatch_order_history_order_id", "dispatch_order_history", ["order_id"])

    op.create_table(
        "dispatch_order_units",
        _order_fk(),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "unit", name=op.f("pk_dispatch_order_units")),
    )
    op.create_index("ix_dispatch_order_units_unit", "dispatch_order_units", ["unit"])

    op.create_table(
        "dispatch_order_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        _order_fk(),
        sa.Column(
            "feedback_id",
            sa.Integer(),
            sa.ForeignKey("dispatch_order_feedback.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("kind", _enum(), nullable=False),
        sa.Column("phase", _enum(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_order_evidence")),
    )
    for column in ("order_id", "feedback_id"):
        op.create_index(f"ix_dispatch_order_evidence_{column}", "dispatch_order_evidence", [column])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in (
        "dispatch_order_evidence",
        "dispatch_order_units",
        "dispatch_order_history",
        "dispatch_order_feedback",
        "dispatch_orders",
    ):
        op.drop_table(table)
