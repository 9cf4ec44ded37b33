"""dispatch core: acceptance, level rules, supervision, patrol teams and members

Revision ID: 0002_dispatch_workflow
Revises: 0001_dispatch_initial
Create Date: 2026-11-27

Orders gain the fields of acceptance (scope, competent department, urgency), the level
rules (count, cross-area, campaign) and supervision (overdue, escalated, reminders); the
lead unit may be empty (an order copied to another department has none). New tables hold
patrol teams, their members and the members working an order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_dispatch_workflow"
down_revision: str | Sequence[str] | None = "0001_dispatch_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _enum() -> sa.String:
    return sa.String(length=32)


ORDER_COLUMNS = [
    ("count", sa.Integer(), {}),
    ("cross_area", sa.Boolean(), {"nullable": False, "server_default": sa.false()}),
    ("campaign", sa.String(length=16), {}),
    ("scope", _enum(), {"nullable": False, "server_default": "in_scope"}),
    ("competent_department", sa.String(length=128), {}),
    ("urgent", sa.Boolean(), {"nullable": False, "server_default": sa.false()}),
    ("supervised", sa.Boolean(), {"nullable": False, "server_default": sa.false()}),
    ("overdue_at", _utc(), {}),
    ("escalated_at", _utc(), {}),
    ("reminder_count", sa.Integer(), {"nullable": False, "server_default": "0"}),
    ("last_reminded_at", _utc(), {}),
]


def upgrade() -> None:
    with op.batch_alter_table("dispatch_orders") as batch:
        for name, type_, options in ORDER_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=options.get("nullable", True),
                                       server_default=options.get("server_default")))
        batch.alter_column("lead_unit", existing_type=sa.String(length=64), nullable=True)
    op.create_index("ix_dispatch_orders_deadline", "dispatch_orders", ["deadline"])

    op.create_table(
        "dispatch_patrol_teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("township", sa.String(length=64), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_patrol_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_dispatch_patrol_teams_name")),
    )
    op.create_table(
        "dispatch_patrol_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "team_id",
            sa.Integer(),
            sa.ForeignKey("dispatch_patrol_teams.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=True),
        sa.Column("duty_status", _enum(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("position_at", _utc(), nullable=True),
        sa.Column(
            "order_id",
            sa.Integer(),
            sa.ForeignKey("dispatch_orders.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_patrol_members")),
    )
    for column in ("team_id", "grid"):
        op.create_index(
            f"ix_dispatch_patrol_members_{column}", "dispatch_patrol_members", [column]
        )
    op.create_table(
        "dispatch_order_members",
        sa.Column(
            "order_id",
            sa.Integer(),
            sa.ForeignKey("dispatch_orders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("dispatch_patrol_members.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", _enum(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "member_id", name=op.f("pk_dispatch_order_members")),
    )
    op.create_index(
        "ix_dispatch_order_members_member_id", "dispatch_order_members", ["member_id"]
    )


def downgrade() -> None:
    for table in ("dispatch_order_members", "dispatch_patrol_members", "dispatch_patrol_teams"):
        op.drop_table(table)
    op.drop_index("ix_dispatch_orders_deadline", table_name="dispatch_orders")
    # Orders without a lead unit (copied ones) cannot keep NOT NULL: give them an empty one.
    op.execute("UPDATE dispatch_orders SET lead_unit = '' WHERE lead_unit IS NULL")
    with op.batch_alter_table("dispatch_orders") as batch:
        batch.alter_column("lead_unit", existing_type=sa.String(length=64), nullable=False)
        for name, _, _ in reversed(ORDER_COLUMNS):
            batch.drop_column(name)
