"""All `KUMO_*` configuration in one place (pydantic-settings).

It lives in `storage` because storage is the lowest platform layer: `api` and `jobs` both
import it, and nothing here imports them. Defaults give the embedded setup: SQLite and a
file store under `./kumo-data`, the local executor, 127.0.0.1:8080.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Read from the environment (`KUMO_DATABASE_URL`, ...) or passed explicitly in tests."""

    model_config = SettingsConfigDict(env_prefix="KUMO_", extra="ignore")

    data_dir: Path = Field(Path("kumo-data"), description="Embedded default's SQLite file and "
                           "object store live here.")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite in data_dir.")
    store_url: str = Field("", description="Where objects go: `s3://bucket[/prefix]` or "
                           "`file:///abs/dir`; empty = file store in data_dir/objects.")
    s3_endpoint: str = Field("127.0.0.1:9000", description="host:port of the S3 server.")
    s3_access_key: str = "minioadmin"
    s3_secret_key: str = "minioadmin"
    s3_secure: bool = Field(False, description="Use https for the S3 endpoint.")
    s3_region: str = "us-east-1"
    executor: str = Field("local", description="`local`, or a Dask scheduler address "
                          "`tcp://host:8786`.")
    workers: int = Field(2, ge=1, description="Processes one runner runs at once.")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    home: Path = Field(Path("~/.config/kumo"), description="Where the CLI keeps credentials.")
    heartbeat_interval: float = Field(2.0, gt=0, description="Seconds between heartbeats.")
    heartbeat_timeout: float = Field(30.0, gt=0, description="A job whose runner has not "
                                     "beaten for this long is failed or re-queued.")
    max_json_bytes: int = Field(16 * 2**20, description="Largest JSON request body.")
    max_upload_bytes: int = Field(64 * 2**30, description="Largest data upload.")
    log_format: str = Field("auto", pattern="^(auto|json|text)$")
    log_level: str = "INFO"

    @cached_property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL actually used."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kumo.db').resolve()}"

    @cached_property
    def resolved_store_url(self) -> str:
        """The object store URL actually used."""
        if self.store_url:
            return self.store_url.rstrip("/")
        return (self.data_dir / "objects").resolve().as_uri()

    @cached_property
    def credentials_path(self) -> Path:
        """The file the server writes the first admin token to and the CLI reads."""
        return self.home.expanduser() / "credentials"
