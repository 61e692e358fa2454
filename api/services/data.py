"""Data objects: uploads streamed into the object store under `projects/<p>/data/`, each
recorded as a DataObject row once it is complete (so a cut-off upload is never listed)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from functools import partial

import anyio
import anyio.from_thread
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import schemas
from api.errors import InvalidArgument, NotFound, TooLarge
from api.services.common import paginate, utc
from storage import models
from storage.db import Database
from storage.objectstore import (
    InvalidKeyError,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    UploadTooLargeError,
)

MAX_PATH = 1024
BATCH_BYTES = 1 << 20


def check_path(path: str) -> str:
    """`path` if it is a usable relative object path, else 400 saying what to fix."""
    if not path:
        raise InvalidArgument("the data path is empty")
    if len(path) > MAX_PATH:
        raise InvalidArgument(f"the data path is longer than {MAX_PATH} characters")
    if path.startswith("/") or path.endswith("/"):
        raise InvalidArgument(f"data path {path!r} must not start or end with '/'")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise InvalidArgument(f"data path {path!r} has an empty, '.' or '..' segment")
    if any(ord(c) < 32 or c == "\x7f" for c in path) or "\\" in path:
        raise InvalidArgument(f"data path {path!r} contains a control character or a "
                              f"backslash")
    return path


def object_key(project: str, path: str) -> str:
    return f"projects/{project}/data/{path}"


def _resource(row: models.DataObject) -> schemas.DataObject:
    return schemas.DataObject(path=row.path, uri=row.uri, size=row.size, sha256=row.sha256,
                              createTime=utc(row.create_time))


async def _next_batch(body: AsyncIterator[bytes]) -> bytes | None:
    """About BATCH_BYTES of the body (None at its end): the writer thread fetches a batch
    per trip to the event loop, not each small network chunk."""
    parts, size = [], 0
    while size < BATCH_BYTES and (chunk := await anext(body, None)) is not None:
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts) if parts else None


def _pull(body: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The async request body as a blocking iterator for the store's writer thread. Data is
    fetched only when the writer asks, so memory stays constant whatever the size."""
    while (batch := anyio.from_thread.run(_next_batch, body)) is not None:
        if batch:
            yield batch


def record(session: Session, project: str, path: str, info: ObjectInfo) -> None:
    """Insert or replace the row of a completed upload."""
    values = {"uri": info.uri, "size": info.size, "sha256": info.sha256 or ""}
    stmt = select(models.DataObject).where(models.DataObject.project == project,
                                           models.DataObject.path == path)
    row = session.scalar(stmt)
    if row is None:
        try:
            with session.begin_nested():
                session.add(models.DataObject(project=project, path=path, **values))
            return
        except IntegrityError:  # a concurrent upload of the same path inserted it first
            row = session.scalars(stmt).one()
    for name, value in values.items():
        setattr(row, name, value)
    row.create_time = models.utcnow()


async def upload(db: Database, store: ObjectStore, project: str, path: str,
                 body: AsyncIterator[bytes], max_bytes: int) -> schemas.UploadResult:
    """Stream `body` into the store (the store computes sha256 and refuses more than
    `max_bytes`), then record it. If `body` raises, nothing is stored or recorded."""
    check_path(path)
    put = partial(store.put_stream, object_key(project, path), _pull(body), max_bytes=max_bytes)
    try:
        info = await anyio.to_thread.run_sync(put)
    except UploadTooLargeError:
        raise TooLarge(f"the upload is larger than {max_bytes} bytes "
                       f"(KUMO_MAX_UPLOAD_BYTES)") from None
    except InvalidKeyError as exc:
        raise InvalidArgument(f"data path {path!r} is not usable: {exc}") from None

    def commit() -> None:
        with db.session() as session:
            record(session, project, path, info)

    await anyio.to_thread.run_sync(commit)
    return schemas.UploadResult(uri=info.uri, size=info.size, sha256=info.sha256 or "")


def list_objects(session: Session, project: str, prefix: str, page_size: int,
                 page_token: str | None) -> schemas.DataList:
    stmt = select(models.DataObject).where(models.DataObject.project == project)
    if prefix:
        stmt = stmt.where(models.DataObject.path.startswith(prefix, autoescape=True))
    rows, token = paginate(session, stmt, models.DataObject.id, page_size, page_token)
    return schemas.DataList(objects=[_resource(r) for r in rows], nextPageToken=token)


def _row(session: Session, project: str, path: str) -> models.DataObject:
    check_path(path)
    row = session.scalar(select(models.DataObject).where(
        models.DataObject.project == project, models.DataObject.path == path))
    if row is None:
        raise NotFound(f"no data object {path!r} in project {project!r}")
    return row


def open_object(session: Session, store: ObjectStore, project: str,
                path: str) -> tuple[schemas.DataObject, Iterator[bytes]]:
    """The object's description and a stream of its bytes."""
    row = _row(session, project, path)
    try:
        return _resource(row), store.get_stream(object_key(project, path))
    except ObjectNotFoundError:
        raise NotFound(f"data object {path!r} is recorded but gone from the object "
                       f"store") from None


def delete_object(session: Session, store: ObjectStore, project: str, path: str) -> None:
    row = _row(session, project, path)
    with contextlib.suppress(ObjectNotFoundError):  # already gone: dropping the row finishes it
        store.delete(object_key(project, path))
    session.delete(row)
