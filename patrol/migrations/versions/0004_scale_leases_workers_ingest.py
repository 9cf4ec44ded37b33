"""scale out: camera leases, workers, ingested MQTT messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scale_workers',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cameras', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('worker_id')
    )
    op.create_index('ix_scale_workers_expires_at', 'scale_workers', ['expires_at'], unique=False)
    op.create_table('camera_leases',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('worker_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('analysed', sa.Integer(), nullable=False),
    sa.Column('last_analysed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('camera_id')
    )
    op.create_index('ix_camera_leases_worker_id', 'camera_leases', ['worker_id'], unique=False)
    op.create_table('ingested_messages',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('worker_id', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )
    op.create_index('ix_ingested_messages_received_at', 'ingested_messages', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ingested_messages_received_at', table_name='ingested_messages')
    op.drop_table('ingested_messages')
    op.drop_index('ix_camera_leases_worker_id', table_name='camera_leases')
    op.drop_table('camera_leases')
    op.drop_index('ix_scale_workers_expires_at', table_name='scale_workers')
    op.drop_table('scale_workers')
