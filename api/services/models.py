"""Models and their versions (deployed snapshots), and online prediction.

A version is created CREATING; `load_version` (run after the answer is sent) loads and
validates its snapshot through the PredictionService and marks it READY, with the
snapshot's signature, or FAILED with the reason. A server that stopped before it finished
leaves the version CREATING; the next start loads it (`creating_versions`). The first
version to become READY is the model's default, which `:predict` on the model uses.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import schemas
from api.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from api.prediction import PredictionInputError, PredictionService
from api.services.common import paginate, utc
from engine.saved_model import SnapshotError
from storage import models
from storage.db import Database
from storage.objectstore import StoreError

log = logging.getLogger(__name__)


def _model(row: models.Model) -> schemas.Model:
    default = schemas.VersionRef(name=row.default_version) if row.default_version else None
    return schemas.Model(name=row.name, description=row.description or "",
                         labels=row.labels or {}, defaultVersion=default,
                         createTime=utc(row.create_time))


def _version(model: models.Model, row: models.Version) -> schemas.Version:
    return schemas.Version(name=row.name, description=row.description or "",
                           deploymentUri=row.deployment_uri, state=row.state,
                           errorMessage=row.error_message or "",
                           isDefault=model.default_version == row.name,
                           createTime=utc(row.create_time), signature=row.signature)


def _model_row(session: Session, project: str, name: str) -> models.Model:
    row = session.scalar(select(models.Model).where(models.Model.project == project,
                                                    models.Model.name == name))
    if row is None:
        raise NotFound(f"model {name[:200]!r} not found in project {project!r}")
    return row


def _version_row(session: Session, project: str, model: str,
                 name: str) -> tuple[models.Model, models.Version]:
    """The model and version rows, read in one statement: a version becoming READY and its
    model's default are written together, and two reads could see one without the other."""
    found = session.execute(
        select(models.Model, models.Version)
        .join(models.Version, models.Version.model_pk == models.Model.id)
        .where(models.Model.project == project, models.Model.name == model,
               models.Version.name == name)).one_or_none()
    if found is None:
        _model_row(session, project, model)  # raises when it is the model that is missing
        raise NotFound(f"version {name[:200]!r} of model {model!r} not found")
    return found[0], found[1]


def create_model(session: Session, project: str, request: schemas.ModelCreate) -> schemas.Model:
    row = models.Model(project=project, name=request.name, description=request.description,
                       labels=request.labels)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"model {request.name!r} already exists in project "
                            f"{project!r}") from None
    return _model(row)


def list_models(session: Session, project: str, page_size: int,
                page_token: str | None) -> schemas.ModelList:
    stmt = select(models.Model).where(models.Model.project == project)
    rows, token = paginate(session, stmt, models.Model.id, page_size, page_token)
    return schemas.ModelList(models=[_model(r) for r in rows], nextPageToken=token)


def get_model(session: Session, project: str, name: str) -> schemas.Model:
    return _model(_model_row(session, project, name))


def delete_model(session: Session, project: str, name: str) -> None:
    """Like Cloud ML Engine, only a model without versions can be deleted."""
    row = _model_row(session, project, name)
    if row.versions:
        names = ", ".join(v.name for v in row.versions[:10])
        raise FailedPrecondition(f"model {name!r} still has versions ({names}); delete them "
                                 f"first")
    session.delete(row)


def create_version(session: Session, project: str, model: str,
                   request: schemas.VersionCreate) -> tuple[schemas.Version, int]:
    """The new CREATING version and its row id, for `load_version`."""
    model_row = _model_row(session, project, model)
    row = models.Version(model_pk=model_row.id, name=request.name,
                         description=request.description,
                         deployment_uri=request.deploymentUri, state="CREATING")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"version {request.name!r} of model {model!r} already "
                            f"exists") from None
    return _version(model_row, row), row.id


def creating_versions(db: Database) -> list[int]:
    """Versions still CREATING: at start, those a stopped server did not finish loading."""
    with db.session() as session:
        return list(session.scalars(select(models.Version.id)
                                    .where(models.Version.state == "CREATING")))


def load_version(db: Database, predictions: PredictionService, version_pk: int) -> None:
    """Load and validate a CREATING version's snapshot; mark it READY (the model's default
    if it has none) or FAILED with the reason."""
    with db.session() as session:
        row = session.get(models.Version, version_pk)
        if row is None:  # deleted while it was being created
            return
        uri, model_pk = row.deployment_uri, row.model_pk
    values: dict[str, Any]
    try:
        signature = predictions.describe(uri, reload=True)  # the URI may hold a newer one
        values = {"state": "READY", "signature": signature, "error_message": ""}
    except (SnapshotError, StoreError, OSError) as exc:
        values = {"state": "FAILED", "error_message": f"cannot load the snapshot at {uri}: {exc}"}
    except Exception:
        log.exception("loading the snapshot at %s failed unexpectedly", uri)
        values = {"state": "FAILED", "error_message": f"cannot load the snapshot at {uri}: "
                  f"internal error (the server log has the details)"}
    with db.session() as session:
        session.execute(update(models.Version).where(models.Version.id == version_pk)
                        .values(**values))
        if values["state"] == "READY":
            name = session.scalars(select(models.Version.name)
                                   .where(models.Version.id == version_pk)).one_or_none()
            session.execute(update(models.Model).where(models.Model.id == model_pk,
                                                       models.Model.default_version.is_(None))
                            .values(default_version=name))


def list_versions(session: Session, project: str, model: str, page_size: int,
                  page_token: str | None) -> schemas.VersionList:
    model_row = _model_row(session, project, model)
    stmt = select(models.Version).where(models.Version.model_pk == model_row.id)
    rows, token = paginate(session, stmt, models.Version.id, page_size, page_token)
    return schemas.VersionList(versions=[_version(model_row, r) for r in rows],
                               nextPageToken=token)


def get_version(session: Session, project: str, model: str, name: str) -> schemas.Version:
    return _version(*_version_row(session, project, model, name))


def delete_version(session: Session, project: str, model: str, name: str) -> None:
    """Like Cloud ML Engine, the default version goes only when it is the last one."""
    model_row, row = _version_row(session, project, model, name)
    if model_row.default_version == name:
        if len(model_row.versions) > 1:
            raise FailedPrecondition(f"version {name!r} is the default of model {model!r}; "
                                     f"set another default first")
        model_row.default_version = None
    session.delete(row)


def set_default(session: Session, project: str, model: str, name: str) -> schemas.Version:
    model_row, row = _version_row(session, project, model, name)
    if row.state != "READY":
        raise FailedPrecondition(f"version {name!r} is {row.state}; only a READY version "
                                 f"can be the default")
    model_row.default_version = name
    return _version(model_row, row)


def serving_uri(session: Session, project: str, model: str, version: str | None) -> str:
    """The deployment URI to predict with: `version`, or the model's default. One query
    when it is READY (the per-request path of :predict); the failure paths say why not."""
    name = models.Model.default_version if version is None else version
    found = session.execute(
        select(models.Version.deployment_uri)
        .join(models.Model, models.Version.model_pk == models.Model.id)
        .where(models.Model.project == project, models.Model.name == model,
               models.Version.name == name, models.Version.state == "READY")).first()
    if found is not None:
        return str(found[0])
    if version is None:
        model_row = _model_row(session, project, model)
        if model_row.default_version is None:
            raise FailedPrecondition(f"model {model!r} has no default version yet (its first "
                                     f"READY version becomes the default)")
        version = model_row.default_version
    _, row = _version_row(session, project, model, version)
    detail = f": {row.error_message}" if row.error_message else ""
    raise FailedPrecondition(f"version {version!r} of model {model!r} is {row.state}; "
                             f"it can predict once READY{detail}")


def predict(predictions: PredictionService, uri: str, instances: list[Any], *,
            now: bool = False) -> list[Any] | None:
    """The predictions, with input errors as 400s; `now`: only if they are quick to make
    (PredictionService.predict_now), else None."""
    try:
        if now:
            return predictions.predict_now(uri, instances)
        return predictions.predict(uri, instances)
    except PredictionInputError as exc:
        raise InvalidArgument(str(exc)) from None
    except (SnapshotError, StoreError, OSError) as exc:
        raise FailedPrecondition(f"the snapshot at {uri} no longer loads: {exc}") from None
