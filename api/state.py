"""What every request handler needs, built once by the app's lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.prediction import PredictionService
from storage.config import Settings
from storage.db import Database
from storage.objectstore import ObjectStore

T = TypeVar("T")
V = TypeVar("V")


class TtlCache(Generic[V]):
    """A small map whose entries expire after `ttl` seconds. For facts that do not change
    once true (a token's scope, a project's existence), so a hit saves a database trip on
    every request; `ttl` bounds how long a later change (a revoked token) goes unseen."""

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def clear(self) -> None:
        self._entries.clear()

    def put(self, key: str, value: V) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # simplest bound; a refill costs one query per entry
        self._entries[key] = (time.monotonic() + self.ttl, value)


class Coalescer:
    """Concurrent requests that need the same lookup share one worker-thread call: when a
    cache entry expires under load, one database query refreshes it instead of one per
    request in flight. Errors reach every sharer."""

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, function: Callable[..., T], *args: Any) -> T:
        call = self._calls.get(key)
        if call is None:
            call = asyncio.ensure_future(run_in_threadpool(function, *args))
            self._calls[key] = call
            call.add_done_callback(lambda _: self._calls.pop(key, None))
        return await asyncio.shield(call)  # a sharer that goes away leaves it running


AUTH_CACHE_SECONDS = 10.0
SERVING_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    store: ObjectStore
    predictions: PredictionService
    # token / project name -> who may call / that it exists
    auth_cache: TtlCache[object] = field(default_factory=lambda: TtlCache(AUTH_CACHE_SECONDS))
    # (project, model, version or default) -> deployment URI of a READY version. Cleared here
    # when this process changes a default or deletes; other API processes see it within
    # SERVING_CACHE_SECONDS.
    serving_cache: TtlCache[str] = field(
        default_factory=lambda: TtlCache(SERVING_CACHE_SECONDS))
    serving_lookups: Coalescer = field(default_factory=Coalescer)


def app_state(request: Request) -> AppState:
    """The running app's state (set by its lifespan)."""
    state: AppState = request.app.state.kumo
    return state
