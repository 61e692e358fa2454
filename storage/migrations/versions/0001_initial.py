"""The initial schema: projects, tokens, data objects, jobs, trials, metrics, log lines,
models and versions, exactly as in storage/models.py (a test compares the two).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(63), nullable=False),
        _time("create_time"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("project", sa.String(63), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        _time("create_time"),
        _fk("project", "projects.name"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_table(
        "data_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(63), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("uri", sa.String(2048), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _time("create_time"),
        _fk("project", "projects.name"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project", "path"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(63), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("training_input", sa.JSON(), nullable=False),
        sa.Column("job_dir", sa.String(2048), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("training_output", sa.JSON(), nullable=False),
        _time("create_time"),
        _time("start_time", nullable=True),
        _time("end_time", nullable=True),
        sa.Column("runner_id", sa.String(128), nullable=True),
        _time("heartbeat_time", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _fk("project", "projects.name"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project", "job_id"),
    )
    op.create_index("ix_jobs_state_create", "jobs", ["state", "create_time"])
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_pk", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("final_metric", sa.JSON(), nullable=True),
        sa.Column("is_trial_stopped_early", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        _time("start_time", nullable=True),
        _time("end_time", nullable=True),
        _fk("job_pk", "jobs.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_pk", "trial_id"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_pk", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.String(32), nullable=True),
        sa.Column("tag", sa.String(256), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("wall_time", sa.Float(), nullable=False),
        _fk("job_pk", "jobs.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metrics_job_tag", "metrics", ["job_pk", "tag", "step"])
    op.create_table(
        "log_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_pk", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.String(32), nullable=True),
        _time("time"),
        sa.Column("stream", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _fk("job_pk", "jobs.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_log_lines_job", "log_lines", ["job_pk", "id"])
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(63), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("default_version", sa.String(128), nullable=True),
        _time("create_time"),
        _fk("project", "projects.name"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project", "name"),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("deployment_uri", sa.String(2048), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=True),
        _time("create_time"),
        _fk("model_pk", "models.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_pk", "name"),
    )


def downgrade() -> None:
    for table in ("versions", "models", "log_lines", "metrics", "trials", "jobs",
                  "data_objects", "tokens", "projects"):
        op.drop_table(table)  # indexes go with their tables
