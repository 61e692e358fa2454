"""Training jobs: runners claim queued jobs from the metadata DB and run each job's Python
module as a subprocess, streaming its logs and metrics back into the DB while it runs.

- `jobs.queue`: the job state machine as plain functions on a DB session (claim, heartbeat,
  finish, recover stale work, cancel); the DB is the only thing runners share.
- `jobs.runner`: `Runner`, the loop that claims jobs, heartbeats them and records outcomes.
- `jobs.executor`: where processes run (`LocalExecutor`: subprocesses on this machine).
- `jobs.packages`: fetching and safely unpacking `packageUris`.
- `jobs.collect`: stdout/stderr and metrics-file lines into `LogLine` / `Metric` rows.
- `jobs.worker`: `python -m jobs.worker` (and `kumo worker`) runs one runner alone.
"""
