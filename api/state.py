"""What every request handler needs, built once by the app's lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import Request

from api.prediction import PredictionService
from storage.config import Settings
from storage.db import Database
from storage.objectstore import ObjectStore

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


AUTH_CACHE_SECONDS = 10.0
SERVING_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    store: ObjectStore
    predictions: PredictionService
    # token hash / project name -> who may call / that it exists
    auth_cache: TtlCache[object] = field(default_factory=lambda: TtlCache(AUTH_CACHE_SECONDS))
    # (project, model, version or default) -> deployment URI of a READY version. Cleared here
    # when this process changes a default or deletes; other API processes see it within
    # SERVING_CACHE_SECONDS.
    serving_cache: TtlCache[str] = field(
        default_factory=lambda: TtlCache(SERVING_CACHE_SECONDS))


def app_state(request: Request) -> AppState:
    """The running app's state (set by its lifespan)."""
    state: AppState = request.app.state.kumo
    return state
