"""The first schema: tokens, rounds, wishes, proposals, jobs, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("county_code", sa.String(2), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "rounds",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("base_shares", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("finalised_proposal_id", sa.Integer, nullable=True),
        sa.Column("finalised_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "wishes",
        sa.Column("year", sa.Integer, sa.ForeignKey("rounds.year"), primary_key=True),
        sa.Column("code", sa.String(4), primary_key=True),
        sa.Column("wish", sa.String(7), nullable=False),
        sa.Column("amount", sa.String(12), nullable=False),
        sa.Column("partner", sa.String(4), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("year", sa.Integer, sa.ForeignKey("rounds.year"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("termination", sa.String(12), nullable=False),
        sa.Column("solution", sa.String(10), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("year", sa.Integer, nullable=True),
        sa.Column("proposal_id", sa.Integer, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer, nullable=True, index=True),
        sa.Column("target", sa.String(40), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "jobs", "proposals", "wishes", "rounds", "tokens"):
        op.drop_table(table)
