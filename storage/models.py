"""The metadata database's tables (SQLAlchemy 2.x declarative).

The DB is the source of truth for the platform: the API writes requests here, runners
claim queued jobs from here and report state, logs and metrics back. Schema changes go
through Alembic migrations in `storage/migrations/` (applied at start), never `create_all`.
Times are timezone-aware UTC. JSON columns hold CloudML-shaped request fragments as given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Token(Base):
    """A bearer token, stored as its sha256; `project` None means an admin token."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str | None] = mapped_column(
        ForeignKey("projects.name", ondelete="CASCADE"), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(200), default="")
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DataObject(Base):
    """An uploaded object under the project's data prefix."""

    __tablename__ = "data_objects"
    __table_args__ = (UniqueConstraint("project", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))
    uri: Mapped[str] = mapped_column(String(2048))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """A CloudML training job. `training_input` is the request's trainingInput verbatim;
    `training_output` is CloudML's trainingOutput (trials, completedTrialCount, ...)."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("project", "job_id"),
                      Index("ix_jobs_state_create", "state", "create_time"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(128))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    training_input: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_dir: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16), default="QUEUED")
    error_message: Mapped[str] = mapped_column(Text, default="")
    training_output: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    runner_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    trials: Mapped[list[Trial]] = relationship(back_populates="job", cascade="all, delete",
                                               order_by="Trial.id")


class Trial(Base):
    """One run of a hyperparameter tuning job (CloudML's HyperparameterOutput)."""

    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("job_pk", "trial_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_pk: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    trial_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="QUEUED")
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    final_metric: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    is_trial_stopped_early: Mapped[bool] = mapped_column(Boolean, default=False)
    error_message: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    job: Mapped[Job] = relationship(back_populates="trials")


class Metric(Base):
    """One reported value: a point of the (tag, trial) series."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_job_tag", "job_pk", "tag", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_pk: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    trial_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tag: Mapped[str] = mapped_column(String(256))
    step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    value: Mapped[float] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class LogLine(Base):
    """One line a job printed; `id` order is output order."""

    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_job", "job_pk", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_pk: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    trial_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stream: Mapped[str] = mapped_column(String(8))  # stdout | stderr | system
    text: Mapped[str] = mapped_column(Text)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    versions: Mapped[list[Version]] = relationship(back_populates="model",
                                                   cascade="all, delete",
                                                   order_by="Version.id")


class Version(Base):
    """A deployed snapshot. `signature` is the snapshot's serving signature, for users."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_pk", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    deployment_uri: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16), default="CREATING")
    error_message: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions")
