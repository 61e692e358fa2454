"""Helpers shared by the services: UTC times and opaque keyset page tokens."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import InvalidArgument

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timezone-aware columns back naive; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """`as_utc` for a column that is never NULL."""
    result = as_utc(value)
    assert result is not None
    return result


def encode_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id})).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        after = None
    if not isinstance(after, int) or isinstance(after, bool):
        raise InvalidArgument("pageToken is invalid: pass the nextPageToken of a previous "
                              "answer, unchanged")
    return after


def paginate(session: Session, stmt: Select[Any], id_column: InstrumentedAttribute[int],
             page_size: int, page_token: str | None, *,
             newest_first: bool = False) -> tuple[Sequence[Any], str | None]:
    """One page of `stmt`'s rows in id order (keyset paging: stable while rows are added)
    and the token for the next page (None on the last one)."""
    if page_token:
        after = decode_page_token(page_token)
        stmt = stmt.where(id_column < after if newest_first else id_column > after)
    order = id_column.desc() if newest_first else id_column.asc()
    rows = session.scalars(stmt.order_by(order).limit(page_size + 1)).all()
    if len(rows) <= page_size:
        return rows, None
    rows = rows[:page_size]
    return rows, encode_page_token(rows[-1].id)
