"""kumo's object stores as a tf.gfile file system: `s3://bucket/key` for the engine.

The engine imports nothing of kumo; it finds this class through the "engine.filesystems"
entry point (pyproject.toml) the first time a trainer reads or writes an s3:// URI, such as
its `--job-dir`. The store's endpoint and credentials come from the KUMO_* environment, which
the runner gives every job process.
"""

from __future__ import annotations

from storage.config import Settings
from storage.objectstore import ObjectNotFoundError, ObjectStore
from storage.stores import open_store


class StoreFileSystem:
    """Whole-object reads and writes on the buckets named in URIs."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or Settings()
        self._stores: dict[str, ObjectStore] = {}

    def _locate(self, uri: str) -> tuple[ObjectStore, str]:
        """The store of the URI's bucket and the key in it."""
        scheme, _, rest = uri.partition("://")
        bucket, _, key = rest.partition("/")
        root = f"{scheme}://{bucket}"
        store = self._stores.get(root)
        if store is None:
            store = self._stores[root] = open_store(root, self._settings)
        return store, key.strip("/")

    def read(self, uri: str) -> bytes:
        store, key = self._locate(uri)
        try:
            return store.read_bytes(key)
        except ObjectNotFoundError:
            raise FileNotFoundError(uri) from None

    def write(self, uri: str, data: bytes) -> None:
        store, key = self._locate(uri)
        store.put_bytes(key, data)

    def exists(self, uri: str) -> bool:
        store, key = self._locate(uri)
        return bool(key) and store.exists(key)

    def listdir(self, uri: str) -> list[str]:
        store, key = self._locate(uri)
        prefix = f"{key}/" if key else ""
        names: dict[str, None] = {}
        for info in store.list(prefix):
            first, slash, _ = info.key[len(prefix):].partition("/")
            names[first + slash] = None  # a deeper key shows as its subdirectory, 'name/'
        return list(names)

    def delete(self, uri: str) -> None:
        store, key = self._locate(uri)
        if not key or not store.exists(key):
            raise FileNotFoundError(uri)
        store.delete(key)
