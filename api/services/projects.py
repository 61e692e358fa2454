"""Projects and bearer tokens. A token is shown once, at creation; the DB keeps its sha256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import schemas
from api.errors import AlreadyExists, NotFound
from api.services.common import utc
from storage import models

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin (every project) or one project's token."""

    project: str | None
    is_admin: bool

    def may_see(self, project: str) -> bool:
        return self.is_admin or self.project == project


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(models.Token).where(
        models.Token.token_sha256 == hash_token(token)))
    if row is None:
        return None
    return Principal(project=row.project, is_admin=row.is_admin)


def _add_token(session: Session, project: str | None,
               description: str) -> tuple[models.Token, str]:
    """A new random token (admin when `project` is None): its row and its plaintext."""
    token = secrets.token_urlsafe(32)
    row = models.Token(token_sha256=hash_token(token), project=project,
                       is_admin=project is None, description=description)
    session.add(row)
    session.flush()
    return row, token


def bootstrap(session: Session) -> str | None:
    """On a fresh database: the `default` project and an admin token, whose plaintext is
    returned (None when tokens already exist, or another server won the race)."""
    if session.scalar(select(func.count()).select_from(models.Token)):
        return None
    try:
        with session.begin_nested():
            if session.get(models.Project, DEFAULT_PROJECT) is None:
                session.add(models.Project(name=DEFAULT_PROJECT))
            _, token = _add_token(session, None, "admin token created at first start")
    except IntegrityError:
        return None
    return token


def create_admin_token(session: Session, description: str) -> str:
    """Another admin token, made with access to the database rather than over the API: the
    way back in for an operator who lost the first one. Its plaintext is returned."""
    _, token = _add_token(session, None, description)
    return token


def _project(row: models.Project) -> schemas.Project:
    return schemas.Project(name=row.name, createTime=utc(row.create_time))


def create_project(session: Session, name: str) -> schemas.Project:
    if session.get(models.Project, name) is not None:
        raise AlreadyExists(f"project {name!r} already exists")
    row = models.Project(name=name)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"project {name!r} already exists") from None
    return _project(row)


def list_projects(session: Session, principal: Principal) -> list[schemas.Project]:
    stmt = select(models.Project).order_by(models.Project.name)
    if not principal.is_admin:
        stmt = stmt.where(models.Project.name == principal.project)
    return [_project(row) for row in session.scalars(stmt)]


def visible_project(session: Session, principal: Principal, name: str) -> models.Project:
    """The project, if it exists and the caller may see it; 404 either way otherwise, so
    that a token cannot find out which other projects exist."""
    row = session.get(models.Project, name) if principal.may_see(name) else None
    if row is None:
        raise NotFound(f"project {name[:100]!r} not found")
    return row


def get_project(session: Session, principal: Principal, name: str) -> schemas.Project:
    return _project(visible_project(session, principal, name))


def create_token(session: Session, project: str, description: str) -> schemas.TokenCreated:
    row, token = _add_token(session, project, description)
    return schemas.TokenCreated(token=token, project=project, description=description,
                                createTime=utc(row.create_time))
