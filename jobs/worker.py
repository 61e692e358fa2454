"""`python -m jobs.worker` (and `kumo worker`): one runner on its own, configured by KUMO_*.

Runs until SIGTERM or SIGINT, then stops its processes and gives their jobs back to the
queue. Any number of workers, on any machines that reach the same DB and object store, can
run side by side.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from jobs.runner import Runner
from storage.config import Settings
from storage.db import Database
from storage.logs import configure_logging


def run_worker(settings: Settings, stop_event: threading.Event | None = None) -> None:
    """Migrate the DB (safe while other processes do too) and run a runner until
    `stop_event` is set, or, from the main thread, until SIGTERM/SIGINT."""
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
    db = Database(settings.resolved_database_url)
    try:
        db.migrate()
        Runner(settings, db).run_forever(stop)
    finally:
        db.dispose()


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    run_worker(settings)


if __name__ == "__main__":
    main()
